with source as (

    select * from {{ source('whatsapp_cloud', 'messages') }}

),

renamed as (

    select
        -- ids (the customer's number only as its keyed hash)
        _record_id as wamid,
        phone_number_id,
        waba_id,
        {{ phone_hash(json_string('record', '$.from')) }} as contact_phone_hash,
        {{ json_string('record', '$.context.id') }} as context_wamid,

        -- attributes
        {{ json_string('record', '$.type') }} as meta_message_type,
        cast({{ json_string('record', '$.errors[0].code') }} as integer) as error_code,
        {{ json_string('record', '$.errors[0].title') }} as error_title,

        -- timestamps
        {{ epoch_seconds_to_timestamp(json_string('record', '$.timestamp')) }} as created_at,
        _loaded_at

    from source

),

classified as (

    select
        *,
        -- Meta's types are the contract's words already, but for its `unknown`
        case
            when meta_message_type = 'unknown' then 'unsupported'
            else meta_message_type
        end as message_type
    from renamed

)

select * from classified
