{#- One row per day and human user with anything to report. Conversations count on the day
    they were assigned to the user (distinct conversations) or closed by the user; response and
    resolution figures are over conversations closed that day (respond.io's reading), a first
    response going to the user who sent it; messages on their report_date. -#}
with conversations as (

    select * from {{ ref('fct_conversations') }}

),

responses as (

    select * from {{ ref('int_conversation_responses_summarized') }}

),

assignments as (

    select * from {{ ref('fct_assignments') }}

),

messages as (

    select * from {{ ref('fct_messages') }}

),

assigned as (

    select
        {{ to_reporting_date('assigned_at') }} as report_date,
        assignee_id as user_id,
        count(distinct conversation_id) as conversations_assigned
    from assignments
    where assignee_id is not null
    group by 1, 2

),

closed as (

    select
        {{ to_reporting_date('closed_at') }} as report_date,
        closed_by_user_id as user_id,
        count(*) as conversations_closed,
        avg(resolution_seconds) as resolution_seconds_avg,
        percentile_cont(0.5) within group (order by resolution_seconds)
            as resolution_seconds_median
    from conversations
    where closed_at is not null and closed_by_user_id is not null
    group by 1, 2

),

first_responses as (

    select
        {{ to_reporting_date('conversations.closed_at') }} as report_date,
        responses.first_response_user_id as user_id,
        avg(conversations.first_response_seconds) as first_response_seconds_avg,
        percentile_cont(0.5) within group (order by conversations.first_response_seconds)
            as first_response_seconds_median,
        percentile_cont(0.9) within group (order by conversations.first_response_seconds)
            as first_response_seconds_p90
    from conversations
    inner join responses
        on conversations.conversation_id = responses.conversation_id
    where
        conversations.closed_at is not null
        and conversations.first_response_seconds is not null
        and responses.first_response_user_id is not null
    group by 1, 2

),

sent as (

    select
        report_date,
        user_id,
        count(*) as messages_sent
    from messages
    where sender_type = 'user' and user_id is not null
    group by report_date, user_id

),

user_days as (

    select report_date, user_id from assigned
    union
    select report_date, user_id from closed
    union
    select report_date, user_id from first_responses
    union
    select report_date, user_id from sent

),

final as (

    select
        user_days.report_date,
        user_days.user_id,
        coalesce(assigned.conversations_assigned, 0) as conversations_assigned,
        coalesce(closed.conversations_closed, 0) as conversations_closed,
        coalesce(sent.messages_sent, 0) as messages_sent,
        first_responses.first_response_seconds_avg,
        first_responses.first_response_seconds_median,
        first_responses.first_response_seconds_p90,
        closed.resolution_seconds_avg,
        closed.resolution_seconds_median
    from user_days
    left join assigned
        on user_days.report_date = assigned.report_date
        and user_days.user_id = assigned.user_id
    left join closed
        on user_days.report_date = closed.report_date
        and user_days.user_id = closed.user_id
    left join first_responses
        on user_days.report_date = first_responses.report_date
        and user_days.user_id = first_responses.user_id
    left join sent
        on user_days.report_date = sent.report_date
        and user_days.user_id = sent.user_id

)

select * from final
