{#- The ISO day of the week (1 = Monday ... 7 = Sunday) of a date or timestamp, as an integer. -#}
{% macro iso_weekday(expression) -%}
    {{ return(adapter.dispatch('iso_weekday', 'wabi')(expression)) }}
{%- endmacro %}

{% macro default__iso_weekday(expression) -%}
    cast(extract(dayofweek_iso from {{ expression }}) as integer)
{%- endmacro %}

{% macro duckdb__iso_weekday(expression) -%}
    cast(isodow({{ expression }}) as integer)
{%- endmacro %}
