{#- A FROM-clause fragment that joins each element of the JSON array at `path` as `alias`
    (a JSON value); rows whose array is missing or empty produce no element rows. -#}
{% macro json_array_elements(json_column, path, alias) -%}
    {{ return(adapter.dispatch('json_array_elements', 'wabi')(json_column, path, alias)) }}
{%- endmacro %}

{% macro default__json_array_elements(json_column, path, alias) -%}
    lateral view explode(
        from_json(get_json_object({{ json_column }}, '{{ path }}'), 'array<string>')
    ) {{ alias }}_elements as {{ alias }}
{%- endmacro %}

{% macro duckdb__json_array_elements(json_column, path, alias) -%}
    cross join unnest(json_extract({{ json_column }}, '{{ path }}[*]')) as {{ alias }}_elements({{ alias }})
{%- endmacro %}
