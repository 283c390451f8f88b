-- The engine's limit: rpt_messages_daily, rpt_conversations_daily and rpt_user_performance_daily
-- computed by hand in plain DuckDB SQL, straight from the raw tables (raw schema, JSON as the
-- sources sent it), with no staging or intermediate model. benchmarks/reference.py runs it on a
-- read-only connection to the warehouse, after setting the variables dbt takes as vars
-- (reporting_timezone, an IANA name, and messaging_window_hours) and defining the keyed
-- phone-number hash wabi_phone_hash() as dbt's connections have it (extract/pii.py).
-- Every definition follows the dbt project's yml docs and SQL (dbt_project/models/marts):
-- report dates in the reporting time zone, a message seen by respond.io and by Meta counted once
-- (by its wamid), the 24-hour customer-service window, exact medians (quantile_cont).

-- respond.io's message records, keyed by wamid when WhatsApp gave one
create or replace temp table respondio_records as
select
    _record_id as respondio_message_id,
    case
        when json_extract_string(record, '$.channelMessageId') like 'wamid.%'
            then json_extract_string(record, '$.channelMessageId')
        else 'respondio:' || _record_id
    end as message_id,
    json_extract_string(record, '$.channelId') as channel_id,
    json_extract_string(record, '$.contactId') as contact_id,
    json_extract_string(record, '$.traffic') as direction,
    case
        when json_extract_string(record, '$.traffic') = 'incoming' then 'contact'
        when json_extract_string(record, '$.sender.source')
            in ('user', 'workflow', 'broadcast', 'api', 'ai_agent', 'echo')
            then json_extract_string(record, '$.sender.source')
        when json_extract_string(record, '$.sender.source') = 'bot' then 'workflow'
        when json_extract_string(record, '$.sender.source') in ('zapier', 'make', 'n8n') then 'api'
    end as sender_type,
    json_extract_string(record, '$.sender.userId') as user_id,
    make_timestamp(cast(json_extract_string(record, '$.timestamp') as bigint) * 1000000)
        as created_at,
    json_extract(record, '$.status[*]') as status_entries
from raw.respondio__messages;

-- Meta's status events (the customer's number only as its keyed hash)
create or replace temp table meta_statuses as
select
    json_extract_string(record, '$.id') as message_id,
    json_extract_string(record, '$.status') as status,
    make_timestamp(cast(json_extract_string(record, '$.timestamp') as bigint) * 1000000)
        as status_at,
    phone_number_id,
    wabi_phone_hash(json_extract_string(record, '$.recipient_id')) as recipient_phone_hash,
    json_extract_string(record, '$.recipient_user_id') as recipient_user_id
from raw.whatsapp_cloud__statuses;

create or replace temp table meta_incoming as
select
    _record_id as message_id,
    'whatsapp_cloud:' || phone_number_id as channel_id,
    'whatsapp_cloud:' || wabi_phone_hash(json_extract_string(record, '$.from')) as contact_id,
    make_timestamp(cast(json_extract_string(record, '$.timestamp') as bigint) * 1000000)
        as created_at
from raw.whatsapp_cloud__messages;

-- every state a message reached, from both sources
create or replace temp table status_times as
with events as (
    select records.message_id, json_extract_string(entry, '$.value') as status,
        make_timestamp(cast(json_extract_string(entry, '$.timestamp') as bigint) * 1000000)
            as status_at
    from respondio_records as records, unnest(records.status_entries) as entries(entry)
    union all
    select message_id, status, status_at from meta_statuses
)
select
    message_id,
    min(status_at) filter (where status = 'sent') as sent_at,
    min(status_at) filter (where status = 'delivered') as delivered_at,
    min(status_at) filter (where status = 'read') as read_at,
    min(status_at) filter (where status = 'failed') as failed_at,
    min(status_at) as first_status_at
from events
group by message_id;

-- one row per message: respond.io's description wins; Meta adds the incoming messages respond.io
-- has not listed and the outgoing ones it knows only from their statuses
create or replace temp table messages as
with meta_outgoing as (
    select
        message_id,
        'whatsapp_cloud:' || max(phone_number_id) as channel_id,
        'whatsapp_cloud:' || coalesce(max(recipient_phone_hash), max(recipient_user_id))
            as contact_id,
        coalesce(min(status_at) filter (where status = 'sent'), min(status_at)) as created_at
    from meta_statuses
    where message_id not in (select message_id from meta_incoming)
    group by message_id
),
described as (
    select message_id, channel_id, contact_id, direction, sender_type, user_id, created_at
    from respondio_records
    union all
    select message_id, channel_id, contact_id, 'incoming', 'contact', null, created_at
    from meta_incoming
    where message_id not in (select message_id from respondio_records)
    union all
    select message_id, channel_id, contact_id, 'outgoing', null, null, created_at
    from meta_outgoing
    where message_id not in (select message_id from respondio_records)
),
with_state as (
    select
        described.*,
        case
            when direction = 'incoming' then 'received'
            when read_at is not null then 'read'
            when delivered_at is not null then 'delivered'
            when failed_at is not null then 'failed'
            when sent_at is not null then 'sent'
            else 'pending'
        end as status,
        case
            when direction = 'incoming' then created_at
            else coalesce(sent_at, first_status_at, created_at)
        end as reported_at
    from described
    left join status_times
        on described.message_id = status_times.message_id and described.direction = 'outgoing'
),
windowed as (
    select
        *,
        max(case when direction = 'incoming' then reported_at end) over (
            partition by contact_id, channel_id
            order by reported_at, case when direction = 'incoming' then 0 else 1 end
            rows between unbounded preceding and current row
        ) as last_incoming_at
    from with_state
)
select
    message_id, channel_id, contact_id, direction, sender_type, user_id, created_at, status,
    coalesce(
        direction = 'outgoing'
        and (
            last_incoming_at is null
            or reported_at > last_incoming_at + to_hours(getvariable('messaging_window_hours'))
        ),
        false
    ) as is_outside_window,
    cast(timezone(getvariable('reporting_timezone'), timezone('UTC', reported_at)) as date)
        as report_date
from windowed;

create or replace temp table rpt_messages_daily as
select
    report_date,
    channel_id,
    count(*) filter (where direction = 'incoming') as received,
    count(*) filter (where direction = 'outgoing') as sent,
    count(*) filter (where status in ('delivered', 'read')) as delivered,
    count(*) filter (where status = 'read') as read,
    count(*) filter (where status = 'failed') as failed,
    count(*) filter (where is_outside_window) as sent_outside_window,
    count(*) filter (where sender_type = 'user') as sent_by_user,
    count(*) filter (where sender_type = 'workflow') as sent_by_workflow,
    count(*) filter (where sender_type = 'broadcast') as sent_by_broadcast,
    count(*) filter (where sender_type = 'api') as sent_by_api,
    count(*) filter (where status in ('delivered', 'read'))
        / nullif(count(*) filter (where direction = 'outgoing'), 0) as delivery_rate,
    count(*) filter (where status = 'read')
        / nullif(count(*) filter (where status in ('delivered', 'read')), 0) as read_rate,
    count(*) filter (where status = 'failed')
        / nullif(count(*) filter (where direction = 'outgoing'), 0) as failure_rate
from messages
group by report_date, channel_id;

-- respond.io's webhook events
create or replace temp table events as
select
    _record_id as event_id,
    json_extract_string(record, '$.event') as event_name,
    json_extract_string(record, '$.contact.id') as contact_id,
    json_extract_string(record, '$.conversation.id') as conversation_id,
    json_extract_string(record, '$.conversation.channelId') as channel_id,
    coalesce(
        json_extract_string(record, '$.conversation.openedBy.source'),
        json_extract_string(record, '$.assignedBy.source'),
        json_extract_string(record, '$.conversation.closedBy.source'),
        json_extract_string(record, '$.deletedBy.source'),
        json_extract_string(record, '$.contact.source')
    ) as actor_source,
    coalesce(
        json_extract_string(record, '$.conversation.openedBy.userId'),
        json_extract_string(record, '$.assignedBy.userId'),
        json_extract_string(record, '$.conversation.closedBy.userId'),
        json_extract_string(record, '$.deletedBy.userId'),
        json_extract_string(record, '$.comment.userId'),
        json_extract_string(record, '$.user.id')
    ) as actor_user_id,
    json_extract_string(record, '$.assignee.id') as assignee_id,
    make_timestamp(cast(json_extract_string(record, '$.timestamp') as bigint) * 1000000)
        as occurred_at,
    make_timestamp(
        cast(json_extract_string(record, '$.conversation.openedAt') as bigint) * 1000000
    ) as opened_at,
    make_timestamp(
        cast(json_extract_string(record, '$.conversation.closedAt') as bigint) * 1000000
    ) as closed_at,
    make_timestamp(cast(json_extract_string(record, '$.contact.created_at') as bigint) * 1000000)
        as contact_created_at
from raw.respondio__events;

-- one row per conversation: its first opening and first closing event
create or replace temp table conversations as
with openings as (
    select * from events where event_name = 'conversationOpened'
    qualify row_number() over (partition by conversation_id order by occurred_at, event_id) = 1
),
closings as (
    select * from events where event_name = 'conversationClosed'
    qualify row_number() over (partition by conversation_id order by occurred_at, event_id) = 1
),
assembled as (
    select
        coalesce(openings.conversation_id, closings.conversation_id) as conversation_id,
        coalesce(openings.channel_id, closings.channel_id) as channel_id,
        coalesce(openings.contact_id, closings.contact_id) as contact_id,
        coalesce(openings.opened_at, closings.opened_at) as opened_at,
        openings.actor_source as opened_by,
        closings.closed_at,
        closings.actor_user_id as closed_by_user_id
    from openings
    full outer join closings on openings.conversation_id = closings.conversation_id
),
-- each message in its contact's conversation open at its creation (the later-opened one wins)
attributed as (
    select messages.message_id, messages.direction, messages.sender_type, messages.user_id,
        messages.created_at, assembled.conversation_id
    from messages
    inner join assembled
        on assembled.contact_id = messages.contact_id
        and assembled.opened_at <= messages.created_at
        and (assembled.closed_at is null or messages.created_at <= assembled.closed_at)
    qualify row_number() over (
        partition by messages.message_id
        order by assembled.opened_at desc, assembled.conversation_id desc
    ) = 1
),
-- the contact's messages and human users' replies take turns; the first user message after the
-- first incoming one is the first response
turns as (
    select
        *,
        lag(direction) over conversation_order as previous_direction
    from attributed
    where direction = 'incoming' or sender_type = 'user'
    window conversation_order as (
        partition by conversation_id
        order by created_at, case when direction = 'incoming' then 0 else 1 end, message_id
    )
),
numbered as (
    select
        *,
        sum(case
            when direction = 'incoming' and coalesce(previous_direction, 'outgoing') = 'outgoing'
                then 1 else 0
        end) over (
            partition by conversation_id
            order by created_at, case when direction = 'incoming' then 0 else 1 end, message_id
            rows between unbounded preceding and current row
        ) as run_number,
        direction = 'outgoing' and previous_direction = 'incoming' as is_answer
    from turns
),
first_responses as (
    select
        conversation_id,
        min(created_at) filter (where direction = 'incoming') as first_incoming_at,
        max(created_at) filter (where is_answer) as first_response_at,
        max(user_id) filter (where is_answer) as first_response_user_id
    from numbered
    where run_number = 1
    group by conversation_id
)
select
    assembled.*,
    first_responses.first_response_user_id,
    cast(date_diff(
        'second', first_responses.first_incoming_at, first_responses.first_response_at
    ) as double) as first_response_seconds,
    cast(date_diff('second', assembled.opened_at, assembled.closed_at) as double)
        as resolution_seconds,
    cast(timezone(getvariable('reporting_timezone'), timezone('UTC', assembled.opened_at)) as date)
        as opened_date,
    cast(timezone(getvariable('reporting_timezone'), timezone('UTC', assembled.closed_at)) as date)
        as closed_date
from assembled
left join first_responses on assembled.conversation_id = first_responses.conversation_id;

-- every channel has a row for each day from its first opened conversation to the workspace's
-- last day of activity (a contact added or deleted, an incoming message, an opening, a closing)
create or replace temp table rpt_conversations_daily as
with activity_dates as (
    select cast(timezone(
        getvariable('reporting_timezone'),
        timezone('UTC', make_timestamp(
            cast(json_extract_string(record, '$.created_at') as bigint) * 1000000
        ))
    ) as date) as activity_date
    from raw.respondio__contacts
    union all
    select cast(timezone(
        getvariable('reporting_timezone'),
        timezone('UTC', case
            when event_name = 'newContact' then coalesce(contact_created_at, occurred_at)
            else occurred_at
        end)
    ) as date)
    from events
    where event_name in ('newContact', 'contactDeleted')
    union all
    select report_date from messages where direction = 'incoming'
    union all
    select opened_date from conversations
    union all
    select closed_date from conversations
),
channel_days as (
    select
        channel_id,
        cast(unnest(generate_series(
            min(opened_date), (select max(activity_date) from activity_dates), interval 1 day
        )) as date) as report_date
    from conversations
    group by channel_id
),
openings as (
    select
        opened_date as report_date,
        channel_id,
        count(*) as opened,
        count(*) filter (where opened_by = 'contact') as opened_by_contact,
        count(*) filter (where opened_by = 'user') as opened_by_user,
        count(*) filter (where opened_by = 'workflow') as opened_by_workflow,
        count(*) filter (where opened_by = 'api') as opened_by_api
    from conversations
    group by all
),
closings as (
    select
        closed_date as report_date,
        channel_id,
        count(*) as closed,
        quantile_cont(first_response_seconds, 0.5) as first_response_seconds_median,
        quantile_cont(first_response_seconds, 0.9) as first_response_seconds_p90,
        quantile_cont(resolution_seconds, 0.5) as resolution_seconds_median
    from conversations
    where closed_date is not null
    group by all
)
select
    channel_days.report_date,
    channel_days.channel_id,
    coalesce(openings.opened, 0) as opened,
    coalesce(openings.opened_by_contact, 0) as opened_by_contact,
    coalesce(openings.opened_by_user, 0) as opened_by_user,
    coalesce(openings.opened_by_workflow, 0) as opened_by_workflow,
    coalesce(openings.opened_by_api, 0) as opened_by_api,
    coalesce(closings.closed, 0) as closed,
    cast(sum(coalesce(openings.opened, 0) - coalesce(closings.closed, 0)) over (
        partition by channel_days.channel_id order by channel_days.report_date
    ) as bigint) as open_at_end_of_day,
    closings.first_response_seconds_median,
    closings.first_response_seconds_p90,
    closings.resolution_seconds_median
from channel_days
left join openings
    on channel_days.report_date = openings.report_date
    and channel_days.channel_id = openings.channel_id
left join closings
    on channel_days.report_date = closings.report_date
    and channel_days.channel_id = closings.channel_id;

-- one row per day and human user with anything to report
create or replace temp table rpt_user_performance_daily as
with assigned as (
    select
        cast(timezone(getvariable('reporting_timezone'), timezone('UTC', occurred_at)) as date)
            as report_date,
        assignee_id as user_id,
        count(distinct conversation_id) as conversations_assigned
    from events
    where event_name = 'contactAssigneeUpdated' and assignee_id is not null
    group by all
),
closed as (
    select
        closed_date as report_date,
        closed_by_user_id as user_id,
        count(*) as conversations_closed,
        avg(resolution_seconds) as resolution_seconds_avg,
        quantile_cont(resolution_seconds, 0.5) as resolution_seconds_median
    from conversations
    where closed_at is not null and closed_by_user_id is not null
    group by all
),
first_responses as (
    select
        closed_date as report_date,
        first_response_user_id as user_id,
        avg(first_response_seconds) as first_response_seconds_avg,
        quantile_cont(first_response_seconds, 0.5) as first_response_seconds_median,
        quantile_cont(first_response_seconds, 0.9) as first_response_seconds_p90
    from conversations
    where
        closed_at is not null
        and first_response_seconds is not null
        and first_response_user_id is not null
    group by all
),
sent as (
    select report_date, user_id, count(*) as messages_sent
    from messages
    where sender_type = 'user' and user_id is not null
    group by all
),
user_days as (
    select report_date, user_id from assigned
    union
    select report_date, user_id from closed
    union
    select report_date, user_id from first_responses
    union
    select report_date, user_id from sent
)
select
    user_days.report_date,
    user_days.user_id,
    coalesce(assigned.conversations_assigned, 0) as conversations_assigned,
    coalesce(closed.conversations_closed, 0) as conversations_closed,
    coalesce(sent.messages_sent, 0) as messages_sent,
    first_responses.first_response_seconds_avg,
    first_responses.first_response_seconds_median,
    first_responses.first_response_seconds_p90,
    closed.resolution_seconds_avg,
    closed.resolution_seconds_median
from user_days
left join assigned
    on user_days.report_date = assigned.report_date and user_days.user_id = assigned.user_id
left join closed
    on user_days.report_date = closed.report_date and user_days.user_id = closed.user_id
left join first_responses
    on user_days.report_date = first_responses.report_date
    and user_days.user_id = first_responses.user_id
left join sent
    on user_days.report_date = sent.report_date and user_days.user_id = sent.user_id;
