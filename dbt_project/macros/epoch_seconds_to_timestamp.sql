{#- Unix seconds (number or numeric string) to a UTC TIMESTAMP without time zone, independent
    of the session's time zone setting. -#}
{% macro epoch_seconds_to_timestamp(expression) -%}
    {{ return(adapter.dispatch('epoch_seconds_to_timestamp', 'wabi')(expression)) }}
{%- endmacro %}

{% macro default__epoch_seconds_to_timestamp(expression) -%}
    timestamp_seconds(cast({{ expression }} as bigint))
{%- endmacro %}

{% macro duckdb__epoch_seconds_to_timestamp(expression) -%}
    make_timestamp(cast({{ expression }} as bigint) * 1000000)
{%- endmacro %}
