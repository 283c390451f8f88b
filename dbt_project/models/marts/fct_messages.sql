{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='message_id',
        on_schema_change='fail',
        post_hook="{{ delete_vanished_messages(ref('int_messages_reported')) }}",
    )
}}

{#- The published table holds only the contract's columns, so it cannot keep the `_loaded_at`
    watermark its upstream models rebuild from. An incremental run instead writes the rows whose
    published version differs from what its inputs say now (new, changed, or moved by a
    conversation event or a changed var): int_messages_reported is incremental, the rest is
    arithmetic and a join, and no raw JSON is read. -#}
{%- set columns = [
    'message_id', 'channel_id', 'contact_id', 'conversation_id', 'direction', 'sender_type',
    'user_id', 'message_type', 'created_at', 'sent_at', 'delivered_at', 'read_at', 'failed_at',
    'status', 'error_code', 'error_title', 'is_outside_window', 'report_date',
] %}

with messages as (

    select * from {{ ref('int_messages_reported') }}

),

message_conversations as (

    select message_id, conversation_id from {{ ref('int_messages_attributed') }}

),

reported_messages as (

    select
        messages.message_id,
        messages.channel_id,
        messages.contact_id,
        message_conversations.conversation_id,
        messages.direction,
        messages.sender_type,
        messages.user_id,
        messages.message_type,
        messages.created_at,
        messages.sent_at,
        messages.delivered_at,
        messages.read_at,
        messages.failed_at,
        messages.status,
        messages.error_code,
        messages.error_title,
        coalesce(
            messages.direction = 'outgoing'
            and (
                messages.last_incoming_at is null
                or messages.reported_at > {{ dbt.dateadd(
                    'hour', var('messaging_window_hours'), 'messages.last_incoming_at'
                ) }}
            ),
            false
        ) as is_outside_window,
        {{ to_reporting_date('messages.reported_at') }} as report_date
    from messages
    left join message_conversations
        on messages.message_id = message_conversations.message_id

),

{% if is_incremental() -%}

published_messages as (

    select * from {{ this }}

),

changed_messages as (

    select reported_messages.*
    from reported_messages
    left join published_messages
        on reported_messages.message_id = published_messages.message_id
    where
        published_messages.message_id is null
        or not (
            {%- for column in columns %}
            reported_messages.{{ column }} is not distinct from published_messages.{{ column }}
            {%- if not loop.last %} and{% endif %}
            {%- endfor %}
        )

),

final as (

    select * from changed_messages

)

{%- else -%}

final as (

    select * from reported_messages

)

{%- endif %}

select * from final
