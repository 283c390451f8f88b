with assignments as (

    select * from {{ ref('int_assignments_sequenced') }}

),

final as (

    select
        assignment_id,
        assigned_at,
        conversation_id,
        contact_id,
        assignee_id,
        previous_assignee_id,
        assigned_by_type,
        assigned_by_user_id
    from assignments

)

select * from final
