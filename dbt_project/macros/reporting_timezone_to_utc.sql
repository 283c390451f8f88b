{#- A wall-clock TIMESTAMP of the reporting time zone (var reporting_timezone) as the UTC
    TIMESTAMP it stands for, DST-aware, as Python's zoneinfo reads it (fold = 0): a local time
    that occurs twice (clocks going back) is its first occurrence; one that never occurs (clocks
    going forward) is read with the offset in force before the change. The inverse of
    utc_to_reporting_timezone. -#}
{% macro reporting_timezone_to_utc(local_timestamp) -%}
    {{ return(adapter.dispatch('reporting_timezone_to_utc', 'wabi')(local_timestamp)) }}
{%- endmacro %}

{% macro default__reporting_timezone_to_utc(local_timestamp) -%}
    to_utc_timestamp({{ local_timestamp }}, {{ reporting_timezone_literal() }})
{%- endmacro %}

{#- DuckDB's ICU reads a repeated local time as its second occurrence, so the offset in force a
    day earlier is tried first and kept when it gives back the same wall-clock time. -#}
{% macro duckdb__reporting_timezone_to_utc(local_timestamp) -%}
    {%- set zone = reporting_timezone_literal() -%}
    {%- set local = "(" ~ local_timestamp ~ ")" -%}
    {%- set icu = "(" ~ local ~ " at time zone " ~ zone ~ " at time zone 'UTC')" -%}
    {%- set day_before = "(" ~ icu ~ " - interval 1 day)" -%}
    {%- set offset_before =
        "(" ~ utc_to_reporting_timezone(day_before) ~ " - " ~ day_before ~ ")" -%}
    {%- set first_reading = "(" ~ local ~ " - " ~ offset_before ~ ")" -%}
    case
        when {{ utc_to_reporting_timezone(first_reading) }} = {{ local }} then {{ first_reading }}
        else {{ icu }}
    end
{%- endmacro %}
