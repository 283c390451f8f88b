with assignments as (

    select * from {{ ref('fct_assignments') }}

),

assignments_dated as (

    select
        {{ to_reporting_date('assigned_at') }} as report_date,
        *
    from assignments

),

final as (

    select
        report_date,
        assigned_by_type,
        count(*) as assignments,
        count(case when assignee_id is null then 1 end) as unassignments,
        count(distinct case
            when assignee_id is not null
                and previous_assignee_id is not null
                and assignee_id <> previous_assignee_id
                then conversation_id
        end) as conversations_reassigned
    from assignments_dated
    group by report_date, assigned_by_type

)

select * from final
