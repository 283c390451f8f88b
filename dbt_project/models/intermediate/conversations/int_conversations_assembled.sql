{#- One row per conversation (one open-to-close cycle of a contact) from respond.io's webhook
    events: conversationOpened says who opened it and when, conversationClosed when and how it
    closed (it repeats the opening time and channel, so a conversation whose opening event was
    lost still has them), contactAssigneeUpdated events who had it. -#}
with events as (

    select * from {{ ref('stg_respondio__events') }}

),

assignments as (

    select * from {{ ref('int_assignments_sequenced') }}

),

openings_ranked as (

    select
        conversation_id,
        contact_id,
        channel_id,
        conversation_opened_at as opened_at,
        actor_source as opened_by,
        actor_user_id as opened_by_user_id,
        row_number() over (
            partition by conversation_id
            order by occurred_at, event_id
        ) as event_rank
    from events
    where event_name = 'conversationOpened'

),

openings as (

    select * from openings_ranked where event_rank = 1

),

closings_ranked as (

    select
        conversation_id,
        contact_id,
        channel_id,
        conversation_opened_at as opened_at,
        conversation_closed_at as closed_at,
        actor_source as closed_by_type,
        actor_user_id as closed_by_user_id,
        closing_category,
        closing_summary,
        row_number() over (
            partition by conversation_id
            order by occurred_at, event_id
        ) as event_rank
    from events
    where event_name = 'conversationClosed'

),

closings as (

    select * from closings_ranked where event_rank = 1

),

conversation_ids as (

    select conversation_id from openings
    union
    select conversation_id from closings

),

-- the first assignee is the first user it was given to (an unassignment gives it to nobody)
first_assignees_ranked as (

    select
        conversation_id,
        assignee_id,
        row_number() over (
            partition by conversation_id
            order by assignment_number
        ) as assignee_rank
    from assignments
    where assignee_id is not null

),

first_assignees as (

    select conversation_id, assignee_id
    from first_assignees_ranked
    where assignee_rank = 1

),

-- the last change decides who has it now: NULL after an unassignment
last_assignments as (

    select conversation_id, assignee_id, conversation_assignments
    from assignments
    where assignment_number = conversation_assignments

),

assembled as (

    select
        conversation_ids.conversation_id,
        coalesce(openings.channel_id, closings.channel_id) as channel_id,
        coalesce(openings.contact_id, closings.contact_id) as contact_id,
        coalesce(openings.opened_at, closings.opened_at) as opened_at,
        openings.opened_by,
        openings.opened_by_user_id,
        first_assignees.assignee_id as first_assignee_id,
        last_assignments.assignee_id,
        coalesce(last_assignments.conversation_assignments, 0) as assignments,
        closings.closed_at,
        closings.closed_by_type,
        closings.closed_by_user_id,
        closings.closing_category,
        closings.closing_summary
    from conversation_ids
    left join openings
        on conversation_ids.conversation_id = openings.conversation_id
    left join closings
        on conversation_ids.conversation_id = closings.conversation_id
    left join first_assignees
        on conversation_ids.conversation_id = first_assignees.conversation_id
    left join last_assignments
        on conversation_ids.conversation_id = last_assignments.conversation_id

)

select * from assembled
