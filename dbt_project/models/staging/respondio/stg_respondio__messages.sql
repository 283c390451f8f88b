{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='respondio_message_id',
        on_schema_change='fail',
    )
}}

{#- A table, not a view: two incremental models and the tests read the messages, and a view
    parsed every record's JSON again for each of them. An incremental run parses only the
    records loaded since `incremental_since()`; a record loaded again (changed) replaces its
    row. -#}

with source as (

    select * from {{ source('respondio', 'messages') }}
    {%- if is_incremental() %}
    where _loaded_at >= {{ incremental_since() }}
    {%- endif %}

),

renamed as (

    select
        -- ids
        _record_id as respondio_message_id,
        {{ json_string('record', '$.channelMessageId') }} as channel_message_id,
        {{ json_string('record', '$.contactId') }} as contact_id,
        {{ json_string('record', '$.channelId') }} as channel_id,
        {{ json_string('record', '$.sender.userId') }} as user_id,

        -- attributes
        {{ json_string('record', '$.traffic') }} as direction,
        {{ json_string('record', '$.sender.source') }} as sender_source,
        {{ json_string('record', '$.message.type') }} as content_type,
        {{ json_string('record', '$.message.attachment.type') }} as attachment_type,

        -- timestamps
        {{ epoch_seconds_to_timestamp(json_string('record', '$.timestamp')) }} as created_at,
        _loaded_at

    from source

),

classified as (

    select
        -- a WhatsApp message is known by its wamid in every source; others by respond.io's id
        case
            when channel_message_id like 'wamid.%' then channel_message_id
            else concat('respondio:', respondio_message_id)
        end as message_id,
        *,
        case
            when direction = 'incoming' then 'contact'
            when sender_source in ('user', 'workflow', 'broadcast', 'api', 'ai_agent', 'echo')
                then sender_source
            when sender_source = 'bot' then 'workflow'
            when sender_source in ('zapier', 'make', 'n8n') then 'api'
        end as sender_type,
        case
            when content_type = 'attachment' and attachment_type = 'file' then 'document'
            when content_type = 'attachment' then attachment_type
            when content_type = 'whatsapp_template' then 'template'
            when content_type in ('quick_reply', 'whatsapp_interactive', 'custom_payload', 'card')
                then 'interactive'
            when content_type = 'whatsapp_order' then 'order'
            else content_type
        end as message_type
    from renamed

)

select * from classified
