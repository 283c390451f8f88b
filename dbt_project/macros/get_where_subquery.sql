{#- What a generic test reads: its `where` config, as dbt's own macro does, and for a row-by-row
    test (each row passes or fails alone) of a model with `_loaded_at`, only the rows loaded
    after what a passing build already tested (macro loads_tested_through). Without it every
    test read the whole history on every daily build: at 300 days, 49 of the 79 node-seconds of
    a build with nothing new. Tests of a key's uniqueness read every row, since a new key may
    repeat an old one. Each filtered test asks the warehouse for the watermark and the model's
    columns: two small queries per test. -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- if config.get('where') -%}
        {%- do conditions.append(config.get('where')) -%}
    {%- endif -%}
    {%- set row_by_row_tests = ['not_null', 'accepted_values', 'relationships', 'expression_is_true'] -%}
    {%- if execute and model.test_metadata and model.test_metadata.name in row_by_row_tests -%}
        {%- set tested_through = loads_tested_through() -%}
        {%- if tested_through is not none
            and '_loaded_at' in adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
            {%- do conditions.append('_loaded_at > ' ~ tested_through) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}
