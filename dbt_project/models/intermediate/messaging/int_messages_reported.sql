{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='message_id',
        on_schema_change='fail',
        post_hook="{{ delete_vanished_messages(ref('int_messages')) }}",
    )
}}

{#- Each message with what fct_messages reports of it that the sources alone decide: its furthest
    state, the instant it is reported at, and the contact's previous incoming message on its
    channel (for the messaging window). An incremental run re-derives every message int_messages
    re-derived since `incremental_since()`, from all its events, and the outgoing messages a
    changed incoming message may now precede: a late incoming message moves the window of every
    later outgoing message of its contact and channel. -#}
{%- if is_incremental() %}
    {%- set since = incremental_since() %}
{%- endif %}

with messages as (

    select * from {{ ref('int_messages') }}

),

status_times as (

    select * from {{ ref('int_message_statuses_pivoted') }}

),

{% if is_incremental() -%}

previous_messages as (

    select * from {{ this }}

),

changed_messages as (

    select *
    from messages
    where _loaded_at >= {{ since }}

),

-- rows whose message is gone (its id changed): their old place still counts below
vanished_messages as (

    select previous_messages.*
    from previous_messages
    left join messages
        on previous_messages.message_id = messages.message_id
    where messages.message_id is null

),

-- every contact, channel and instant at which an incoming message is now or was before: the
-- outgoing messages after it there may have another previous incoming message
moved_incoming as (

    select contact_id, channel_id, created_at as moved_at
    from changed_messages
    where direction = 'incoming'

    union all

    select previous_messages.contact_id, previous_messages.channel_id, previous_messages.reported_at
    from previous_messages
    inner join changed_messages
        on previous_messages.message_id = changed_messages.message_id
    where previous_messages.direction = 'incoming'

    union all

    select contact_id, channel_id, reported_at
    from vanished_messages
    where direction = 'incoming'

),

moved_windows as (

    select contact_id, channel_id, min(moved_at) as moved_from
    from moved_incoming
    group by contact_id, channel_id

),

rebuilt_ids as (

    select message_id from changed_messages

    union

    -- unchanged messages keep their reporting instant: the stored one says which come after
    select previous_messages.message_id
    from previous_messages
    inner join moved_windows
        on previous_messages.contact_id = moved_windows.contact_id
        and previous_messages.channel_id = moved_windows.channel_id
    where previous_messages.reported_at >= moved_windows.moved_from

),

rebuilt_messages as (

    select *
    from messages
    where message_id in (select message_id from rebuilt_ids)

),

rebuilt_windows as (

    select distinct contact_id, channel_id
    from rebuilt_messages

),

-- the other incoming messages of those contacts and channels, which the window looks back over
window_incoming as (

    select
        messages.message_id,
        messages.contact_id,
        messages.channel_id,
        messages.direction,
        messages.created_at as reported_at
    from messages
    inner join rebuilt_windows
        on messages.contact_id = rebuilt_windows.contact_id
        and messages.channel_id = rebuilt_windows.channel_id
    where
        messages.direction = 'incoming'
        and messages.message_id not in (select message_id from rebuilt_ids)

),

{%- else %}

rebuilt_messages as (

    select * from messages

),

{%- endif %}

messages_with_state as (

    select
        rebuilt_messages.message_id,
        rebuilt_messages.channel_id,
        rebuilt_messages.contact_id,
        rebuilt_messages.direction,
        rebuilt_messages.sender_type,
        rebuilt_messages.user_id,
        rebuilt_messages.message_type,
        rebuilt_messages.created_at,
        status_times.sent_at,
        status_times.delivered_at,
        status_times.read_at,
        status_times.failed_at,
        -- the furthest state reached: a later delivered or read outranks a failure
        case
            when rebuilt_messages.direction = 'incoming' then 'received'
            when status_times.read_at is not null then 'read'
            when status_times.delivered_at is not null then 'delivered'
            when status_times.failed_at is not null then 'failed'
            when status_times.sent_at is not null then 'sent'
            else 'pending'
        end as status,
        status_times.error_code,
        status_times.error_title,
        -- the instant the message is reported at: sent time when known, else its earliest event
        case
            when rebuilt_messages.direction = 'incoming' then rebuilt_messages.created_at
            else coalesce(
                status_times.sent_at, status_times.first_status_at, rebuilt_messages.created_at
            )
        end as reported_at,
        rebuilt_messages._loaded_at
    from rebuilt_messages
    -- only outgoing messages have a delivery state
    left join status_times
        on rebuilt_messages.message_id = status_times.message_id
        and rebuilt_messages.direction = 'outgoing'

),

window_rows as (

    select message_id, contact_id, channel_id, direction, reported_at
    from messages_with_state
    {%- if is_incremental() %}

    union all

    select message_id, contact_id, channel_id, direction, reported_at
    from window_incoming
    {%- endif %}

),

-- an incoming message stamped the same instant as an outgoing one comes before it
windowed as (

    select
        message_id,
        max(case when direction = 'incoming' then reported_at end) over (
            partition by contact_id, channel_id
            order by reported_at, case when direction = 'incoming' then 0 else 1 end
            rows between unbounded preceding and current row
        ) as last_incoming_at
    from window_rows

),

final as (

    select
        messages_with_state.message_id,
        messages_with_state.channel_id,
        messages_with_state.contact_id,
        messages_with_state.direction,
        messages_with_state.sender_type,
        messages_with_state.user_id,
        messages_with_state.message_type,
        messages_with_state.created_at,
        messages_with_state.sent_at,
        messages_with_state.delivered_at,
        messages_with_state.read_at,
        messages_with_state.failed_at,
        messages_with_state.status,
        messages_with_state.error_code,
        messages_with_state.error_title,
        messages_with_state.reported_at,
        windowed.last_incoming_at,
        messages_with_state._loaded_at
    from messages_with_state
    inner join windowed
        on messages_with_state.message_id = windowed.message_id

)

select * from final
