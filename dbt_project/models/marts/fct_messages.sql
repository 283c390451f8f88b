with messages as (

    select * from {{ ref('int_messages') }}

),

status_times as (

    select * from {{ ref('int_message_statuses_pivoted') }}

),

message_conversations as (

    select message_id, conversation_id from {{ ref('int_messages_attributed') }}

),

messages_with_state as (

    select
        messages.*,
        status_times.sent_at,
        status_times.delivered_at,
        status_times.read_at,
        status_times.failed_at,
        status_times.error_code,
        status_times.error_title,
        -- the furthest state reached: a later delivered or read outranks a failure
        case
            when messages.direction = 'incoming' then 'received'
            when status_times.read_at is not null then 'read'
            when status_times.delivered_at is not null then 'delivered'
            when status_times.failed_at is not null then 'failed'
            when status_times.sent_at is not null then 'sent'
            else 'pending'
        end as status,
        -- the instant the message is reported at: sent time when known, else its earliest event
        case
            when messages.direction = 'incoming' then messages.created_at
            else coalesce(status_times.sent_at, status_times.first_status_at, messages.created_at)
        end as reported_at
    from messages
    -- only outgoing messages have a delivery state
    left join status_times
        on messages.message_id = status_times.message_id
        and messages.direction = 'outgoing'

),

messages_with_last_incoming as (

    select
        *,
        max(case when direction = 'incoming' then reported_at end) over (
            partition by contact_id, channel_id
            order by reported_at, case when direction = 'incoming' then 0 else 1 end
            rows between unbounded preceding and current row
        ) as last_incoming_at
    from messages_with_state

),

final as (

    select
        message_id,
        channel_id,
        contact_id,
        message_conversations.conversation_id,
        direction,
        sender_type,
        user_id,
        message_type,
        created_at,
        sent_at,
        delivered_at,
        read_at,
        failed_at,
        status,
        error_code,
        error_title,
        coalesce(
            direction = 'outgoing'
            and (
                last_incoming_at is null
                or reported_at > {{ dbt.dateadd('hour', var('messaging_window_hours'), 'last_incoming_at') }}
            ),
            false
        ) as is_outside_window,
        {{ to_reporting_date('reported_at') }} as report_date
    from messages_with_last_incoming
    left join message_conversations using (message_id)

)

select * from final
