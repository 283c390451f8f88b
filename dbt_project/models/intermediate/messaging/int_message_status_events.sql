with respondio_messages as (

    select * from {{ ref('stg_respondio__messages') }}

),

respondio_statuses as (

    select * from {{ ref('stg_respondio__message_statuses') }}

),

whatsapp_cloud_statuses as (

    select * from {{ ref('stg_whatsapp_cloud__message_statuses') }}

),

respondio_events as (

    select
        respondio_messages.message_id,
        respondio_statuses.status,
        respondio_statuses.status_at,
        'respondio' as source,
        cast(null as integer) as error_code,
        -- respond.io gives only a failure text
        respondio_statuses.status_message as error_title
    from respondio_statuses
    inner join respondio_messages
        on respondio_statuses.respondio_message_id = respondio_messages.respondio_message_id

),

whatsapp_cloud_events as (

    select
        wamid as message_id,
        status,
        status_at,
        'whatsapp_cloud' as source,
        error_code,
        error_title
    from whatsapp_cloud_statuses

),

unioned_events as (

    select * from respondio_events
    union all
    select * from whatsapp_cloud_events

),

-- an event a source repeated (the same state at the same instant) is one event
deduplicated_events as (

    select
        message_id,
        status,
        status_at,
        source,
        max(error_code) as error_code,
        max(error_title) as error_title
    from unioned_events
    group by message_id, status, status_at, source

)

select * from deduplicated_events
