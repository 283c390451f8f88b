with conversations as (

    select * from {{ ref('fct_conversations') }}

),

closed_conversations as (

    select
        {{ to_reporting_date('closed_at') }} as report_date,
        closing_category,
        resolution_seconds
    from conversations
    where closed_at is not null

),

final as (

    select
        report_date,
        closing_category,
        count(*) as closed,
        percentile_cont(0.5) within group (order by resolution_seconds)
            as resolution_seconds_median
    from closed_conversations
    group by report_date, closing_category

)

select * from final
