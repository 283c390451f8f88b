{#- A post-hook statement for an incremental model keyed by message_id: delete the rows whose
    message_id none of the relations passed (the model's upstream) holds any more. A
    delete+insert run replaces only the keys it writes, so a row whose id went away (a
    respond.io record first pulled without its wamid, `respondio:<messageId>`, then with it)
    would otherwise stay beside its successor. An anti-join on ids: no raw JSON is read. -#}
{% macro delete_vanished_messages() -%}
    delete from {{ this }} as stored
    where
        {%- for upstream in varargs %}
        not exists (
            select 1 from {{ upstream }} as upstream
            where upstream.message_id = stored.message_id
        )
        {%- if not loop.last %} and{% endif %}
        {%- endfor %}
{%- endmacro %}
