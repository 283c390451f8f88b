{#- A phone number as the marts may carry it: the hex HMAC-SHA256 of its E.164 digits
    (everything but 0-9 dropped, so '+55 19 3491-8889' and '551934918889' hash alike) under the
    deployment's key (WABI_PII_KEY, else <data dir>/pii.key; extract/pii.py). NULL stays NULL.
    The key is never in the SQL: each connection defines wabi_phone_hash() in its own memory
    (orchestration/dbt_pii_plugin.py on DuckDB; another engine, such as Spark, must register a
    function of that name computing the same HMAC from the same key source in its session).
    Staging hashes every phone number it reads and never selects the raw column. -#}
{% macro phone_hash(column) -%}
    wabi_phone_hash({{ column }})
{%- endmacro %}
