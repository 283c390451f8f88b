{#- Which raw loads the tests of a build have already passed on, so that row-by-row tests read
    only what was loaded since (macro get_where_subquery).

    Each build notes, when it starts, the newest `_loaded_at` of every source (what it will
    read); when it ends, a whole `dbt build` (no selection) whose every node passed marks that
    instant as tested. A row loaded by then was read by every row-by-row test of that build, or
    by a full refresh's; a build that failed marks nothing, so its rows are read again until a
    build passes on them. The table lives beside the gates' results in the `audit` schema. -#}

{% macro tested_loads_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='audit', identifier='dbt_tested_loads')) }}
{%- endmacro %}

{% macro note_loads_to_test() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set sources_with_loads = [] -%}
    {%- for source_node in graph.sources.values() -%}
        {%- if source_node.loaded_at_field == '_loaded_at' -%}
            {%- do sources_with_loads.append(source(source_node.source_name, source_node.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    create schema if not exists {{ tested_loads_relation().schema }};
    create table if not exists {{ tested_loads_relation() }} (
        invocation_id {{ dbt.type_string() }} not null,
        loaded_through {{ dbt.type_timestamp() }},
        passed boolean not null
    );
    insert into {{ tested_loads_relation() }}
    select
        '{{ invocation_id }}',
        max(newest_loaded_at),
        false
    from (
        {%- for relation in sources_with_loads %}
        select max(_loaded_at) as newest_loaded_at from {{ relation }}
        {%- if not loop.last %} union all{% endif %}
        {%- endfor %}
    ) as newest_loads
{%- endmacro %}

{% macro mark_loads_tested(results) -%}
    {#- Dagster runs a whole build as `--select fqn:*` -#}
    {%- set selected = invocation_args_dict.get('select') or [] -%}
    {%- set whole_build = flags.WHICH == 'build' and (selected | list) in ([], ['fqn:*'])
        and not invocation_args_dict.get('exclude') -%}
    {%- set every_node_passed = results | rejectattr('status', 'in', ['success', 'pass']) | list | length == 0 -%}
    {%- if whole_build and every_node_passed and results | length > 0 -%}
        update {{ tested_loads_relation() }}
        set passed = true
        where invocation_id = '{{ invocation_id }}'
    {%- else -%}
        select 1 as nothing_to_mark
    {%- endif -%}
{%- endmacro %}

{#- The newest load a passing build has tested, less var incremental_lookback_hours (loaders
    whose clocks or commits disagree), as a timestamp literal; none when every row must be read:
    a full refresh, or no build has passed yet. -#}
{% macro loads_tested_through() -%}
    {%- if flags.FULL_REFRESH or not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if load_relation(tested_loads_relation()) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set newest_query -%}
        select max(loaded_through) from {{ tested_loads_relation() }} where passed
    {%- endset -%}
    {%- set newest = run_query(newest_query).columns[0].values()[0] -%}
    {%- if newest is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set lookback = modules.datetime.timedelta(hours=var('incremental_lookback_hours') | float) -%}
    {{ return("cast('" ~ (newest - lookback).strftime('%Y-%m-%d %H:%M:%S.%f') ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}
