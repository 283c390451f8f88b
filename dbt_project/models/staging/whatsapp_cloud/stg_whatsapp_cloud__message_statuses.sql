with source as (

    select * from {{ source('whatsapp_cloud', 'statuses') }}

),

renamed as (

    select
        -- ids (the customer's number only as its keyed hash)
        _record_id as status_event_id,
        {{ json_string('record', '$.id') }} as wamid,
        phone_number_id,
        waba_id,
        {{ phone_hash(json_string('record', '$.recipient_id')) }} as recipient_phone_hash,
        {{ json_string('record', '$.recipient_user_id') }} as recipient_user_id,
        {{ json_string('record', '$.conversation.id') }} as conversation_id,

        -- attributes
        {{ json_string('record', '$.status') }} as status,
        cast({{ json_string('record', '$.errors[0].code') }} as integer) as error_code,
        {{ json_string('record', '$.errors[0].title') }} as error_title,
        {{ json_string('record', '$.conversation.origin.type') }} as conversation_origin,
        {{ json_string('record', '$.pricing.category') }} as pricing_category,
        {{ json_string('record', '$.pricing.pricing_model') }} as pricing_model,
        cast({{ json_string('record', '$.pricing.billable') }} as boolean) as pricing_billable,

        -- timestamps
        {{ epoch_seconds_to_timestamp(json_string('record', '$.timestamp')) }} as status_at,
        {{ epoch_seconds_to_timestamp(
            json_string('record', '$.conversation.expiration_timestamp')
        ) }} as conversation_expires_at,
        _loaded_at

    from source

)

select * from renamed
