{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='message_id',
        on_schema_change='fail',
        post_hook="{{ delete_vanished_messages(
            ref('int_message_records_unioned'), ref('int_message_status_events')
        ) }}",
    )
}}

{#- One row per message whichever source knows it. A WhatsApp message respond.io knows is keyed
    by the same wamid Meta uses, so a message in both is one row, described by respond.io (it
    knows the contact, the channel, who sent it); Meta adds what respond.io does not know:
    incoming messages it has not pulled yet, and outgoing messages sent around it (known to Meta
    only from their statuses). Status events are unioned apart (int_message_status_events).
    An incremental run re-derives every message with a record or a Meta status loaded since
    `incremental_since()`, each from all its records and events (parsed tables, no raw JSON). -#}
{%- if is_incremental() %}
    {%- set since = incremental_since() %}
{%- endif %}
{#- What each source says of a message: the same columns for both. -#}
{%- set described_columns = 'message_id, respondio_message_id, channel_id, contact_id, direction, '
    ~ 'sender_type, user_id, message_type, created_at, source' %}

with records as (

    select * from {{ ref('int_message_records_unioned') }}

),

status_events as (

    select * from {{ ref('int_message_status_events') }}

),

{% if is_incremental() -%}

previous_messages as (

    select * from {{ this }}

),

-- what was loaded since, and when: a record, a Meta status, or a respond.io record that now
-- names another message than the one it described (that one is re-derived without it)
loaded_messages as (

    select message_id, _loaded_at
    from records
    where _loaded_at >= {{ since }}

    union all

    select message_id, _loaded_at
    from status_events
    where source = 'whatsapp_cloud' and _loaded_at >= {{ since }}

    union all

    select previous_messages.message_id, records._loaded_at
    from previous_messages
    inner join records
        on previous_messages.respondio_message_id = records.respondio_message_id
    where
        records._loaded_at >= {{ since }}
        and previous_messages.message_id <> records.message_id

),

rebuilt_messages as (

    select message_id, max(_loaded_at) as _loaded_at
    from loaded_messages
    group by message_id

),

message_records as (

    select *
    from records
    where message_id in (select message_id from rebuilt_messages)

),

whatsapp_cloud_statuses as (

    select *
    from status_events
    where
        source = 'whatsapp_cloud'
        and message_id in (select message_id from rebuilt_messages)

),

{%- else %}

message_records as (

    select * from records

),

whatsapp_cloud_statuses as (

    select * from status_events where source = 'whatsapp_cloud'

),

{%- endif %}

respondio_described as (

    select {{ described_columns }}
    from message_records
    where source = 'respondio'

),

whatsapp_cloud_incoming as (

    select {{ described_columns }}
    from message_records
    where source = 'whatsapp_cloud'

),

-- status events of wamids Meta never delivered as incoming messages: outgoing messages
outgoing_statuses as (

    select whatsapp_cloud_statuses.*
    from whatsapp_cloud_statuses
    left join whatsapp_cloud_incoming
        on whatsapp_cloud_statuses.message_id = whatsapp_cloud_incoming.message_id
    where whatsapp_cloud_incoming.message_id is null

),

whatsapp_cloud_outgoing as (

    select
        message_id,
        cast(null as {{ dbt.type_string() }}) as respondio_message_id,
        {{ dbt.concat(["'whatsapp_cloud:'", 'max(phone_number_id)']) }} as channel_id,
        {{ dbt.concat([
            "'whatsapp_cloud:'",
            'coalesce(max(recipient_phone_hash), max(recipient_user_id))',
        ]) }} as contact_id,
        'outgoing' as direction,
        -- Meta's statuses say neither who sent the message nor what it held
        cast(null as {{ dbt.type_string() }}) as sender_type,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as message_type,
        -- Meta never tells when it was written: when it was sent, else first heard of
        coalesce(
            min(case when status = 'sent' then status_at end),
            min(status_at)
        ) as created_at,
        'whatsapp_cloud' as source
    from outgoing_statuses
    group by message_id

),

whatsapp_cloud_described as (

    select * from whatsapp_cloud_incoming
    union all
    select * from whatsapp_cloud_outgoing

),

whatsapp_cloud_only as (

    select whatsapp_cloud_described.*
    from whatsapp_cloud_described
    left join respondio_described
        on whatsapp_cloud_described.message_id = respondio_described.message_id
    where respondio_described.message_id is null

),

unioned as (

    select * from respondio_described
    union all
    select * from whatsapp_cloud_only

),

-- the newest load of any row the message was derived from (and of what triggered its rebuild)
load_times as (

    select message_id, _loaded_at from message_records
    union all
    select message_id, _loaded_at from whatsapp_cloud_statuses
    {%- if is_incremental() %}
    union all
    select message_id, _loaded_at from rebuilt_messages
    {%- endif %}

),

latest_loads as (

    select message_id, max(_loaded_at) as _loaded_at
    from load_times
    group by message_id

),

final as (

    select
        unioned.*,
        whatsapp_cloud_described.message_id is not null as is_known_to_whatsapp_cloud,
        latest_loads._loaded_at
    from unioned
    left join whatsapp_cloud_described
        on unioned.message_id = whatsapp_cloud_described.message_id
    inner join latest_loads
        on unioned.message_id = latest_loads.message_id

)

select * from final
