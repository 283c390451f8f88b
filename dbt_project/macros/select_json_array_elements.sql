{#- A query of `relation`'s `columns` with each element of the JSON array at `path` in
    `json_column` as `alias` (a JSON value), a row per element; rows whose array is missing or
    empty produce no element rows. -#}
{% macro select_json_array_elements(relation, columns, json_column, path, alias) -%}
    {{ return(adapter.dispatch('select_json_array_elements', 'wabi')(relation, columns, json_column, path, alias)) }}
{%- endmacro %}

{% macro default__select_json_array_elements(relation, columns, json_column, path, alias) -%}
    select {{ columns | join(', ') }}, {{ alias }}
    from {{ relation }}
    lateral view explode(
        from_json(get_json_object({{ json_column }}, '{{ path }}'), 'array<string>')
    ) {{ alias }}_elements as {{ alias }}
{%- endmacro %}

{#- unnest() in the select list, not a lateral join: DuckDB decorrelates a lateral unnest into a
    join on the whole JSON value, which costs ten times as much and keeps a filter on `columns`
    from reaching the table scan. -#}
{% macro duckdb__select_json_array_elements(relation, columns, json_column, path, alias) -%}
    select {{ columns | join(', ') }}, unnest(json_extract({{ json_column }}, '{{ path }}[*]')) as {{ alias }}
    from {{ relation }}
{%- endmacro %}
