with source as (

    select * from {{ source('respondio', 'contacts') }}

),

renamed as (

    select
        -- ids
        _record_id as contact_id,

        -- attributes (names and phone numbers stay in raw until they are hashed or vetted)
        {{ json_string('record', '$.countryCode') }} as country_code,
        {{ json_string('record', '$.language') }} as language,
        {{ json_string('record', '$.lifecycle') }} as lifecycle,
        {{ json_string('record', '$.status') }} as conversation_status,
        {{ json_string('record', '$.assignee.id') }} as assignee_user_id,

        -- timestamps
        {{ epoch_seconds_to_timestamp(json_string('record', '$.created_at')) }} as created_at,
        _loaded_at

    from source

)

select * from renamed
