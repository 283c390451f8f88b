{#- var reporting_timezone as an SQL string literal. wabi passes only names that both Python's
    zoneinfo and DuckDB know (orchestration.settings.checked_timezone); a value that is not even
    shaped like an IANA name stops the compilation here, and quotes are doubled all the same. -#}
{% macro reporting_timezone_literal() -%}
    {%- set zone = var("reporting_timezone") | string -%}
    {%- if not modules.re.fullmatch("[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*", zone) -%}
        {{ exceptions.raise_compiler_error(
            "var reporting_timezone must be an IANA time zone name such as Europe/Berlin, not '"
            ~ zone ~ "'") }}
    {%- endif -%}
    '{{ zone | replace("'", "''") }}'
{%- endmacro %}
