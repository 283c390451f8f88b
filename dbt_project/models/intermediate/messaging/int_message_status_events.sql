{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['source', '_record_id'],
        on_schema_change='fail',
    )
}}

{#- Status events as their raw rows carry them, parsed once: an incremental run reads only the
    raw rows loaded since `incremental_since()` and replaces the events of each (a respond.io
    message record holds its whole `status[]`, so a changed record replaces all its events; a
    Meta status is one raw row). Messages are re-derived from all their events downstream. -#}
{%- if is_incremental() %}
    {%- set since = incremental_since() %}
{%- endif %}

with respondio_messages as (

    select * from {{ ref('stg_respondio__messages') }}

),

respondio_statuses as (

    select * from {{ ref('stg_respondio__message_statuses') }}

),

whatsapp_cloud_statuses as (

    select * from {{ ref('stg_whatsapp_cloud__message_statuses') }}

),

loaded_respondio_messages as (

    select *
    from respondio_messages
    {% if is_incremental() -%}
    where _loaded_at >= {{ since }}
    {%- endif %}

),

-- the entries of those records only: unnesting every record's history again was most of an
-- incremental run
loaded_respondio_statuses as (

    select *
    from respondio_statuses
    {% if is_incremental() -%}
    where _loaded_at >= {{ since }}
    {%- endif %}

),

loaded_whatsapp_cloud_statuses as (

    select *
    from whatsapp_cloud_statuses
    {% if is_incremental() -%}
    where _loaded_at >= {{ since }}
    {%- endif %}

),

respondio_events as (

    select
        loaded_respondio_messages.message_id,
        loaded_respondio_statuses.status,
        loaded_respondio_statuses.status_at,
        'respondio' as source,
        cast(null as integer) as error_code,
        -- respond.io gives only a failure text
        loaded_respondio_statuses.status_message as error_title,
        cast(null as {{ dbt.type_string() }}) as phone_number_id,
        cast(null as {{ dbt.type_string() }}) as recipient_phone_hash,
        cast(null as {{ dbt.type_string() }}) as recipient_user_id,
        loaded_respondio_messages.respondio_message_id as _record_id,
        loaded_respondio_messages._loaded_at
    from loaded_respondio_statuses
    inner join loaded_respondio_messages
        on loaded_respondio_statuses.respondio_message_id
        = loaded_respondio_messages.respondio_message_id

),

whatsapp_cloud_events as (

    select
        wamid as message_id,
        status,
        status_at,
        'whatsapp_cloud' as source,
        error_code,
        error_title,
        phone_number_id,
        recipient_phone_hash,
        recipient_user_id,
        status_event_id as _record_id,
        _loaded_at
    from loaded_whatsapp_cloud_statuses

),

unioned_events as (

    select * from respondio_events
    union all
    select * from whatsapp_cloud_events

),

-- an event a record repeated (the same state at the same instant) is one event
deduplicated_events as (

    select
        message_id,
        status,
        status_at,
        source,
        max(error_code) as error_code,
        max(error_title) as error_title,
        max(phone_number_id) as phone_number_id,
        max(recipient_phone_hash) as recipient_phone_hash,
        max(recipient_user_id) as recipient_user_id,
        _record_id,
        max(_loaded_at) as _loaded_at
    from unioned_events
    group by message_id, status, status_at, source, _record_id

)

select * from deduplicated_events
