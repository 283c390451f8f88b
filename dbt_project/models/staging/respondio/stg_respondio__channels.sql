with source as (

    select * from {{ source('respondio', 'channels') }}

),

renamed as (

    select
        -- ids
        _record_id as channel_id,

        -- attributes
        {{ json_string('record', '$.name') }} as channel_name,
        {{ json_string('record', '$.source') }} as channel_source,

        -- timestamps
        {{ epoch_seconds_to_timestamp(json_string('record', '$.created_at')) }} as created_at,
        _loaded_at

    from source

),

classified as (

    select
        *,
        -- respond.io's `source` in the contract's words: every WhatsApp Business Platform
        -- (API) connection, Meta's own or a provider's, is whatsapp_cloud; respond.io's plain
        -- `whatsapp` channel is read as the WhatsApp Business app
        case
            when channel_source in (
                'whatsapp_cloud',
                '360dialog_whatsapp',
                'twilio_whatsapp',
                'message_bird_whatsapp',
                'nexmo_whatsapp'
            ) then 'whatsapp_cloud'
            when channel_source = 'whatsapp' then 'whatsapp_business_app'
            when channel_source = 'facebook' then 'messenger'
            when channel_source = 'instagram' then 'instagram'
            when channel_source = 'telegram' then 'telegram'
            when channel_source = 'custom_channel' then 'webchat'
            when channel_source in ('gmail', 'other_email') then 'email'
            when channel_source in ('twilio', 'message_bird', 'nexmo') then 'sms'
            else 'other'
        end as channel_type
    from renamed

)

select * from classified
