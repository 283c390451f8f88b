{#- A set-returning select expression: one row per calendar date (DATE) from start_date to
    end_date, both included; none when end_date is before start_date. Use it as the only
    set-returning expression of its select list, e.g.
    `select {{ dates_from_to('first_day', 'last_day') }} as report_date from bounds`. -#}
{% macro dates_from_to(start_date, end_date) -%}
    {{ return(adapter.dispatch('dates_from_to', 'wabi')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__dates_from_to(start_date, end_date) -%}
    explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date)))
{%- endmacro %}

{% macro duckdb__dates_from_to(start_date, end_date) -%}
    cast(unnest(generate_series(
        cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day
    )) as date)
{%- endmacro %}
