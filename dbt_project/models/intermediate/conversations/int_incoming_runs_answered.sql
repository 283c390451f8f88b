{#- One row per run of incoming messages in a conversation, with the human user's message that
    answered it. Only the contact's messages and human users' messages take turns: workflow,
    broadcast, API and AI-agent messages are not answers and do not end a run. In creation order
    (an incoming message first when both are stamped the same second), a run starts at an
    incoming message with no user message since the previous run, and is answered by the next
    user message; user messages before the first incoming one answer nothing. -#}
with messages as (

    select * from {{ ref('int_messages_attributed') }}

),

turns as (

    select
        conversation_id,
        message_id,
        direction,
        user_id,
        created_at,
        lag(direction) over (
            partition by conversation_id
            order by
                created_at,
                case when direction = 'incoming' then 0 else 1 end,
                message_id
        ) as previous_direction
    from messages
    where
        conversation_id is not null
        and (direction = 'incoming' or sender_type = 'user')

),

turns_classified as (

    select
        *,
        direction = 'incoming'
            and coalesce(previous_direction, 'outgoing') = 'outgoing' as is_run_start,
        direction = 'outgoing' and previous_direction = 'incoming' as is_answer
    from turns

),

turns_numbered as (

    select
        *,
        sum(case when is_run_start then 1 else 0 end) over (
            partition by conversation_id
            order by
                created_at,
                case when direction = 'incoming' then 0 else 1 end,
                message_id
            rows between unbounded preceding and current row
        ) as run_number
    from turns_classified

),

runs as (

    select
        conversation_id,
        run_number,
        min(case when direction = 'incoming' then created_at end) as run_started_at,
        count(case when direction = 'incoming' then 1 end) as incoming_messages,
        max(case when is_answer then message_id end) as answer_message_id,
        max(case when is_answer then user_id end) as answered_by_user_id,
        max(case when is_answer then created_at end) as answered_at
    from turns_numbered
    where run_number > 0
    group by conversation_id, run_number

),

final as (

    select
        *,
        cast(
            {{ dbt.datediff('run_started_at', 'answered_at', 'second') }} as double
        ) as response_seconds
    from runs

)

select * from final
