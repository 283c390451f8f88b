{#- The value at a JSON path, as a string (NULL when absent). Path syntax: '$.a.b'. -#}
{% macro json_string(json_column, path) -%}
    {{ return(adapter.dispatch('json_string', 'wabi')(json_column, path)) }}
{%- endmacro %}

{% macro default__json_string(json_column, path) -%}
    get_json_object({{ json_column }}, '{{ path }}')
{%- endmacro %}

{% macro duckdb__json_string(json_column, path) -%}
    json_extract_string({{ json_column }}, '{{ path }}')
{%- endmacro %}
