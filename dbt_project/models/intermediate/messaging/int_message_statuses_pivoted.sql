with statuses as (

    select * from {{ ref('stg_respondio__message_statuses') }}

),

pivoted as (

    select
        respondio_message_id,
        min(case when status = 'pending' then status_at end) as pending_at,
        min(case when status = 'sent' then status_at end) as sent_at,
        min(case when status = 'delivered' then status_at end) as delivered_at,
        min(case when status = 'read' then status_at end) as read_at,
        min(case when status = 'failed' then status_at end) as failed_at,
        min(status_at) as first_status_at,
        max(case when status = 'failed' then status_message end) as failure_message
    from statuses
    group by respondio_message_id

)

select * from pivoted
