{#- The instant an incremental run of the current model rebuilds from: the newest `_loaded_at` its
    table holds, less var incremental_lookback_hours. Every row loaded since then, in any
    upstream table, is taken again; the lookback absorbs loaders whose clocks or commits disagree.
    Call it only inside `{% if is_incremental() %}`: it reads `{{ this }}` once, when the model
    runs, and renders a timestamp literal, so the filter is a constant the raw tables' scans
    apply and dbt's log shows the instant each run started from. A table with no rows yet
    rebuilds from the start of time. -#}
{% macro incremental_since(loaded_at='_loaded_at') -%}
    {%- set timestamp_type = dbt.type_timestamp() -%}
    {%- if not execute -%}
        {{ return("cast(null as " ~ timestamp_type ~ ")") }}
    {%- endif -%}
    {%- set newest_query -%}
        select max({{ loaded_at }}) as newest_loaded_at from {{ this }}
    {%- endset -%}
    {%- set newest = run_query(newest_query).columns[0].values()[0] -%}
    {%- if newest is none -%}
        {{ return("cast('1970-01-01 00:00:00' as " ~ timestamp_type ~ ")") }}
    {%- endif -%}
    {%- set lookback = modules.datetime.timedelta(hours=var('incremental_lookback_hours') | float) -%}
    {%- set since = (newest - lookback).strftime('%Y-%m-%d %H:%M:%S.%f') -%}
    {{ return("cast('" ~ since ~ "' as " ~ timestamp_type ~ ")") }}
{%- endmacro %}
