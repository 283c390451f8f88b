with conversations as (

    select * from {{ ref('int_conversations_assembled') }}

),

responses as (

    select * from {{ ref('int_conversation_responses_summarized') }}

),

messages as (

    select * from {{ ref('int_messages_attributed') }}

),

message_counts as (

    select
        conversation_id,
        count(case when direction = 'incoming' then 1 end) as incoming_messages,
        count(case when direction = 'outgoing' then 1 end) as outgoing_messages
    from messages
    where conversation_id is not null
    group by conversation_id

),

conversations_measured as (

    select
        conversations.conversation_id,
        conversations.channel_id,
        conversations.contact_id,
        conversations.opened_at,
        conversations.opened_by,
        conversations.first_assignee_id,
        conversations.assignee_id,
        conversations.assignments,
        responses.first_incoming_at,
        responses.first_response_at,
        responses.first_response_seconds,
        {{ business_seconds('responses.first_incoming_at', 'responses.first_response_at') }}
            as first_response_business_seconds,
        responses.avg_response_seconds,
        coalesce(responses.responses, 0) as responses,
        conversations.closed_at,
        conversations.closed_by_type,
        conversations.closed_by_user_id,
        conversations.closing_category,
        conversations.closing_summary,
        cast(
            {{ dbt.datediff('conversations.opened_at', 'conversations.closed_at', 'second') }}
            as double
        ) as resolution_seconds,
        {{ business_seconds('conversations.opened_at', 'conversations.closed_at') }}
            as resolution_business_seconds,
        coalesce(message_counts.incoming_messages, 0) as incoming_messages,
        coalesce(message_counts.outgoing_messages, 0) as outgoing_messages,
        conversations.closed_at is null as is_open
    from conversations
    left join responses
        on conversations.conversation_id = responses.conversation_id
    left join message_counts
        on conversations.conversation_id = message_counts.conversation_id

)

select * from conversations_measured
