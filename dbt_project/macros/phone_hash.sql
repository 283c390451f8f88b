{#- A phone number as the marts may carry it: the salted SHA-256 (hex) of its E.164 digits
    (everything but 0-9 dropped, so '+55 19 3491-8889' and '551934918889' hash alike), salted
    with var('pii_salt') (env WABI_PII_SALT; '' when unset). NULL stays NULL. Staging hashes
    every phone number it reads and never selects the raw column. -#}
{% macro phone_hash(column) -%}
    {{ return(adapter.dispatch('phone_hash', 'wabi')(column)) }}
{%- endmacro %}

{% macro default__phone_hash(column) -%}
    {%- set salt = var('pii_salt', '') | string | replace('\\', '\\\\') | replace("'", "\\'") -%}
    sha2(concat('{{ salt }}', regexp_replace({{ column }}, '[^0-9]', '')), 256)
{%- endmacro %}

{% macro duckdb__phone_hash(column) -%}
    {%- set salt = var('pii_salt', '') | string | replace("'", "''") -%}
    sha256('{{ salt }}' || regexp_replace({{ column }}, '[^0-9]', '', 'g'))
{%- endmacro %}
