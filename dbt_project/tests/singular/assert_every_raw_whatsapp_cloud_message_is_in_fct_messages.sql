{{ config(meta={'dagster': {'ref': {'name': 'fct_messages'}}}) }}

-- Every message Meta's webhooks told of reaches fct_messages: each incoming message (its wamid)
-- and each outgoing message of which any status event arrived (the status's wamid), whether
-- respond.io knows it too or not.
with raw_wamids as (

    select _record_id as message_id, 'messages' as raw_table
    from {{ source('whatsapp_cloud', 'messages') }}

    union all

    select {{ json_string('record', '$.id') }} as message_id, 'statuses' as raw_table
    from {{ source('whatsapp_cloud', 'statuses') }}

),

fact_messages as (

    select * from {{ ref('fct_messages') }}

),

missing_messages as (

    select raw_wamids.message_id, raw_wamids.raw_table, count(*) as raw_rows
    from raw_wamids
    left join fact_messages
        on raw_wamids.message_id = fact_messages.message_id
    where fact_messages.message_id is null
    group by raw_wamids.message_id, raw_wamids.raw_table

)

select * from missing_messages
