{#- The join condition that attributes something a contact did at `instant` to the contact's
    conversation open then: opened at or before it and not closed before it (a conversation's
    closing instant still belongs to it). `conversations` is the alias of a relation with
    contact_id, opened_at and closed_at (NULL while open). -#}
{% macro conversation_open_at(conversations, contact_id, instant) -%}
    {{ conversations }}.contact_id = {{ contact_id }}
    and {{ conversations }}.opened_at <= {{ instant }}
    and (
        {{ conversations }}.closed_at is null
        or {{ instant }} <= {{ conversations }}.closed_at
    )
{%- endmacro %}
