{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='message_id',
        on_schema_change='fail',
        post_hook="{{ delete_vanished_messages(ref('int_message_status_events')) }}",
    )
}}

{#- Each message's first time in each state, and the failure that explains it. An incremental run
    re-derives every message with an event loaded since `incremental_since()`, from all its
    events. -#}
{%- if is_incremental() %}
    {%- set since = incremental_since() %}
{%- endif %}

with all_status_events as (

    select * from {{ ref('int_message_status_events') }}

),

status_events as (

    select *
    from all_status_events
    {% if is_incremental() -%}
    where message_id in (
        select message_id from all_status_events where _loaded_at >= {{ since }}
    )
    {%- endif %}

),

pivoted as (

    select
        message_id,
        min(case when status = 'pending' then status_at end) as pending_at,
        min(case when status = 'sent' then status_at end) as sent_at,
        min(case when status = 'delivered' then status_at end) as delivered_at,
        min(case when status = 'read' then status_at end) as read_at,
        min(case when status = 'failed' then status_at end) as failed_at,
        min(status_at) as first_status_at,
        count(distinct source) as sources,
        max(_loaded_at) as _loaded_at
    from status_events
    group by message_id

),

-- the failure that explains the message: one with Meta's error code first, then the earliest
failures_ranked as (

    select
        message_id,
        error_code,
        error_title,
        row_number() over (
            partition by message_id
            order by
                case when error_code is not null then 0 else 1 end,
                status_at,
                source
        ) as failure_rank
    from status_events
    where status = 'failed'

),

first_failures as (

    select message_id, error_code, error_title
    from failures_ranked
    where failure_rank = 1

),

final as (

    select
        pivoted.*,
        first_failures.error_code,
        first_failures.error_title
    from pivoted
    left join first_failures
        on pivoted.message_id = first_failures.message_id

)

select * from final
