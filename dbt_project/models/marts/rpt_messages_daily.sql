with messages as (

    select * from {{ ref('fct_messages') }}

),

daily_counts as (

    select
        report_date,
        channel_id,
        count(case when direction = 'incoming' then 1 end) as received,
        count(case when direction = 'outgoing' then 1 end) as sent,
        count(case when status in ('delivered', 'read') then 1 end) as delivered,
        count(case when status = 'read' then 1 end) as read,
        count(case when status = 'failed' then 1 end) as failed,
        count(case when is_outside_window then 1 end) as sent_outside_window,
        count(case when sender_type = 'user' then 1 end) as sent_by_user,
        count(case when sender_type = 'workflow' then 1 end) as sent_by_workflow,
        count(case when sender_type = 'broadcast' then 1 end) as sent_by_broadcast,
        count(case when sender_type = 'api' then 1 end) as sent_by_api
    from messages
    group by report_date, channel_id

),

final as (

    select
        *,
        {{ safe_divide('delivered', 'sent') }} as delivery_rate,
        {{ safe_divide('read', 'delivered') }} as read_rate,
        {{ safe_divide('failed', 'sent') }} as failure_rate
    from daily_counts

)

select * from final
