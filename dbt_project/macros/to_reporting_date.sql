{#- The calendar date, in the reporting time zone (var reporting_timezone), of a UTC timestamp. -#}
{% macro to_reporting_date(utc_timestamp) -%}
    cast({{ utc_to_reporting_timezone(utc_timestamp) }} as date)
{%- endmacro %}

{#- A UTC TIMESTAMP as wall-clock time in the reporting time zone (DST-aware). -#}
{% macro utc_to_reporting_timezone(utc_timestamp) -%}
    {{ return(adapter.dispatch('utc_to_reporting_timezone', 'wabi')(utc_timestamp)) }}
{%- endmacro %}

{% macro default__utc_to_reporting_timezone(utc_timestamp) -%}
    from_utc_timestamp({{ utc_timestamp }}, {{ reporting_timezone_literal() }})
{%- endmacro %}

{% macro duckdb__utc_to_reporting_timezone(utc_timestamp) -%}
    (({{ utc_timestamp }}) at time zone 'UTC' at time zone {{ reporting_timezone_literal() }})
{%- endmacro %}
