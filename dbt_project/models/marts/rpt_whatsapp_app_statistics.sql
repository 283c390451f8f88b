with messages_daily as (

    select * from {{ ref('rpt_messages_daily') }}

),

channels as (

    select * from {{ ref('dim_channels') }}

),

whatsapp_daily as (

    select
        messages_daily.report_date,
        messages_daily.channel_id,
        messages_daily.sent,
        messages_daily.delivered,
        messages_daily.read,
        messages_daily.received
    from messages_daily
    inner join channels
        on messages_daily.channel_id = channels.channel_id
    where channels.channel_type in ('whatsapp_cloud', 'whatsapp_business_app')

),

final as (

    select
        *,
        {{ safe_divide('received', 'delivered') }} as engagement_ratio,
        {{ safe_divide('read', 'sent') }} as read_ratio
    from whatsapp_daily

)

select * from final
