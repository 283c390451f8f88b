{#- The weekly heatmap over the whole history: incoming messages and opened conversations by
    local weekday and hour, all 7 x 24 cells. `weeks` counts the days of that weekday from the
    first to the last day with an incoming message or an opened conversation. -#}
with messages as (

    select * from {{ ref('fct_messages') }}

),

conversations as (

    select * from {{ ref('fct_conversations') }}

),

-- instants in local wall-clock time
incoming_local as (

    select {{ utc_to_reporting_timezone('created_at') }} as local_at
    from messages
    where direction = 'incoming'

),

openings_local as (

    select {{ utc_to_reporting_timezone('opened_at') }} as local_at
    from conversations

),

incoming_by_hour as (

    select
        {{ iso_weekday('local_at') }} as day_of_week,
        cast(extract(hour from local_at) as integer) as hour_of_day,
        count(*) as incoming_messages
    from incoming_local
    group by 1, 2

),

openings_by_hour as (

    select
        {{ iso_weekday('local_at') }} as day_of_week,
        cast(extract(hour from local_at) as integer) as hour_of_day,
        count(*) as conversations_opened
    from openings_local
    group by 1, 2

),

active_dates as (

    select cast(local_at as date) as active_date from incoming_local
    union all
    select cast(local_at as date) from openings_local

),

history_span as (

    select
        min(active_date) as first_active_date,
        max(active_date) as last_active_date
    from active_dates

),

history_dates as (

    select {{ dates_from_to('first_active_date', 'last_active_date') }} as history_date
    from history_span

),

weekday_counts as (

    select
        {{ iso_weekday('history_date') }} as day_of_week,
        count(*) as weeks
    from history_dates
    group by 1

),

weekly_hours as (

    {%- for day_of_week in range(1, 8) %}
    {%- for hour_of_day in range(24) %}
    select {{ day_of_week }} as day_of_week, {{ hour_of_day }} as hour_of_day
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        weekly_hours.day_of_week,
        weekly_hours.hour_of_day,
        coalesce(incoming_by_hour.incoming_messages, 0) as incoming_messages,
        coalesce(openings_by_hour.conversations_opened, 0) as conversations_opened,
        coalesce(weekday_counts.weeks, 0) as weeks,
        {{ safe_divide(
            'coalesce(incoming_by_hour.incoming_messages, 0)',
            'coalesce(weekday_counts.weeks, 0)'
        ) }} as incoming_per_week
    from weekly_hours
    left join incoming_by_hour
        on weekly_hours.day_of_week = incoming_by_hour.day_of_week
        and weekly_hours.hour_of_day = incoming_by_hour.hour_of_day
    left join openings_by_hour
        on weekly_hours.day_of_week = openings_by_hour.day_of_week
        and weekly_hours.hour_of_day = openings_by_hour.hour_of_day
    left join weekday_counts
        on weekly_hours.day_of_week = weekday_counts.day_of_week

)

select * from final
