{#- One row per change of a conversation's assignee (respond.io's contactAssigneeUpdated event),
    numbered in time order within its conversation. An unassignment (no new assignee) is a change
    like any other. -#}
with events as (

    select * from {{ ref('stg_respondio__events') }}

),

assignments as (

    select
        event_id as assignment_id,
        occurred_at as assigned_at,
        conversation_id,
        contact_id,
        assignee_id,
        previous_assignee_id,
        actor_source as assigned_by_type,
        actor_user_id as assigned_by_user_id
    from events
    where event_name = 'contactAssigneeUpdated'

),

sequenced as (

    select
        *,
        row_number() over (
            partition by conversation_id
            order by assigned_at, assignment_id
        ) as assignment_number,
        count(*) over (partition by conversation_id) as conversation_assignments
    from assignments

)

select * from sequenced
