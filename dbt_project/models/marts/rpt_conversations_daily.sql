{#- Opened conversations count on the day they opened, closed ones (and every response and
    resolution figure) on the day they closed; each channel has a row for every day from its first
    opened conversation to the workspace's last day of activity, zero-filled. -#}
with conversations as (

    select * from {{ ref('fct_conversations') }}

),

messages as (

    select * from {{ ref('fct_messages') }}

),

events as (

    select * from {{ ref('stg_respondio__events') }}

),

contacts as (

    select * from {{ ref('stg_respondio__contacts') }}

),

conversations_dated as (

    select
        *,
        {{ to_reporting_date('opened_at') }} as opened_date,
        {{ to_reporting_date('closed_at') }} as closed_date
    from conversations

),

-- any activity: a contact added or deleted, an incoming message, a conversation opened or closed
activity_dates as (

    select {{ to_reporting_date('created_at') }} as activity_date
    from contacts
    union all
    select {{ to_reporting_date('coalesce(contact_created_at, occurred_at)') }}
    from events
    where event_name = 'newContact'
    union all
    select {{ to_reporting_date('occurred_at') }}
    from events
    where event_name = 'contactDeleted'
    union all
    select report_date
    from messages
    where direction = 'incoming'
    union all
    select opened_date
    from conversations_dated
    union all
    select closed_date
    from conversations_dated

),

last_activity as (

    select max(activity_date) as last_activity_date
    from activity_dates

),

channel_first_dates as (

    select
        channel_id,
        min(opened_date) as first_opened_date
    from conversations_dated
    group by channel_id

),

channel_days as (

    select
        channel_first_dates.channel_id,
        {{ dates_from_to(
            'channel_first_dates.first_opened_date',
            'last_activity.last_activity_date'
        ) }} as report_date
    from channel_first_dates
    cross join last_activity

),

openings as (

    select
        opened_date as report_date,
        channel_id,
        count(*) as opened,
        count(case when opened_by = 'contact' then 1 end) as opened_by_contact,
        count(case when opened_by = 'user' then 1 end) as opened_by_user,
        count(case when opened_by = 'workflow' then 1 end) as opened_by_workflow,
        count(case when opened_by = 'api' then 1 end) as opened_by_api
    from conversations_dated
    group by opened_date, channel_id

),

closings as (

    select
        closed_date as report_date,
        channel_id,
        count(*) as closed,
        percentile_cont(0.5) within group (order by first_response_seconds)
            as first_response_seconds_median,
        percentile_cont(0.9) within group (order by first_response_seconds)
            as first_response_seconds_p90,
        percentile_cont(0.5) within group (order by resolution_seconds)
            as resolution_seconds_median
    from conversations_dated
    where closed_date is not null
    group by closed_date, channel_id

),

daily as (

    select
        channel_days.report_date,
        channel_days.channel_id,
        coalesce(openings.opened, 0) as opened,
        coalesce(openings.opened_by_contact, 0) as opened_by_contact,
        coalesce(openings.opened_by_user, 0) as opened_by_user,
        coalesce(openings.opened_by_workflow, 0) as opened_by_workflow,
        coalesce(openings.opened_by_api, 0) as opened_by_api,
        coalesce(closings.closed, 0) as closed,
        closings.first_response_seconds_median,
        closings.first_response_seconds_p90,
        closings.resolution_seconds_median
    from channel_days
    left join openings
        on channel_days.report_date = openings.report_date
        and channel_days.channel_id = openings.channel_id
    left join closings
        on channel_days.report_date = closings.report_date
        and channel_days.channel_id = closings.channel_id

),

final as (

    select
        report_date,
        channel_id,
        opened,
        opened_by_contact,
        opened_by_user,
        opened_by_workflow,
        opened_by_api,
        closed,
        cast(sum(opened - closed) over (
            partition by channel_id
            order by report_date
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}) as open_at_end_of_day,
        first_response_seconds_median,
        first_response_seconds_p90,
        resolution_seconds_median
    from daily

)

select * from final
