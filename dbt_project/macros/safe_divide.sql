{#- numerator / denominator as a DOUBLE fraction (DuckDB and Spark both name it double); NULL when the denominator is 0. -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro %}
