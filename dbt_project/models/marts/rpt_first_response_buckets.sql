with conversations as (

    select * from {{ ref('fct_conversations') }}

),

first_responses as (

    select
        {{ to_reporting_date('closed_at') }} as report_date,
        channel_id,
        case
            when first_response_seconds < 30 then '<30s'
            when first_response_seconds < 120 then '30s-2m'
            when first_response_seconds < 300 then '2m-5m'
            when first_response_seconds < 600 then '5m-10m'
            when first_response_seconds < 1800 then '10m-30m'
            when first_response_seconds < 3600 then '30m-1h'
            else '>1h'
        end as bucket
    from conversations
    where closed_at is not null and first_response_seconds is not null

),

bucket_counts as (

    select
        report_date,
        channel_id,
        bucket,
        count(*) as conversations
    from first_responses
    group by report_date, channel_id, bucket

),

final as (

    select
        report_date,
        channel_id,
        bucket,
        conversations,
        {{ safe_divide(
            'conversations',
            'sum(conversations) over (partition by report_date, channel_id)'
        ) }} as share
    from bucket_counts

)

select * from final
