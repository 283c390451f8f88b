{#- Every match of `pattern` (a regular expression, written once for every dialect) in a string
    column, as a list of the strings captured by group `group`: an empty list when nothing
    matches, NULL when the column is NULL. -#}
{% macro regexp_extract_list(column, pattern, group=1) -%}
    {{ return(adapter.dispatch('regexp_extract_list', 'wabi')(column, pattern, group)) }}
{%- endmacro %}

{#- Spark string literals read backslashes as escapes: they are doubled. -#}
{% macro default__regexp_extract_list(column, pattern, group) -%}
    regexp_extract_all(
        {{ column }},
        '{{ pattern | replace("\\", "\\\\") | replace("'", "\\'") }}',
        {{ group }}
    )
{%- endmacro %}

{% macro duckdb__regexp_extract_list(column, pattern, group) -%}
    regexp_extract_all({{ column }}, '{{ pattern | replace("'", "''") }}', {{ group }})
{%- endmacro %}
