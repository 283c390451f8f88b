{#- Layers land in schemas named exactly after them (staging, intermediate, marts): one local
    warehouse has no per-developer schemas to keep apart. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
