{{ config(meta={'dagster': {'ref': {'name': 'fct_messages'}}}) }}

-- Every raw respond.io message reaches fct_messages, under the id both sources share (a
-- WhatsApp message's wamid, else `respondio:<messageId>`; computed here from raw, not taken
-- from staging): none lost by the union with Meta's webhooks or by the joins. With the unique
-- test on fct_messages.message_id and assert_fct_messages_come_from_raw_messages, each once.
with raw_messages as (

    select
        case
            when {{ json_string('record', '$.channelMessageId') }} like 'wamid.%'
                then {{ json_string('record', '$.channelMessageId') }}
            else {{ dbt.concat(["'respondio:'", '_record_id']) }}
        end as message_id,
        _record_id as respondio_message_id
    from {{ source('respondio', 'messages') }}

),

fact_messages as (

    select * from {{ ref('fct_messages') }}

),

missing_messages as (

    select raw_messages.*
    from raw_messages
    left join fact_messages
        on raw_messages.message_id = fact_messages.message_id
    where fact_messages.message_id is null

)

select * from missing_messages
