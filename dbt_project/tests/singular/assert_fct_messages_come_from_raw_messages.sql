{{ config(meta={'dagster': {'ref': {'name': 'fct_messages'}}}) }}

-- No message is invented: every row of fct_messages is a raw respond.io message or a wamid of
-- Meta's raw messages or statuses. With the two assert_every_raw_* tests and the unique test on
-- message_id, fct_messages holds each raw message exactly once.
with raw_message_ids as (

    select
        case
            when {{ json_string('record', '$.channelMessageId') }} like 'wamid.%'
                then {{ json_string('record', '$.channelMessageId') }}
            else {{ dbt.concat(["'respondio:'", '_record_id']) }}
        end as message_id
    from {{ source('respondio', 'messages') }}

    union all

    select _record_id as message_id
    from {{ source('whatsapp_cloud', 'messages') }}

    union all

    select {{ json_string('record', '$.id') }} as message_id
    from {{ source('whatsapp_cloud', 'statuses') }}

),

fact_messages as (

    select * from {{ ref('fct_messages') }}

),

invented_messages as (

    select fact_messages.message_id, fact_messages.channel_id, fact_messages.direction
    from fact_messages
    left join raw_message_ids
        on fact_messages.message_id = raw_message_ids.message_id
    where raw_message_ids.message_id is null

)

select * from invented_messages
