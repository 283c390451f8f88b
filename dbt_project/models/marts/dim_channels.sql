{#- Every channel a message or a conversation can name: respond.io's channel list; each Meta
    phone number that messages only Meta's webhooks know are put on (`whatsapp_cloud:` and its
    phone_number_id); and any other channel id a message or conversation event names but the
    list no longer holds (a deleted channel, whose data still counts). -#}
with channels as (

    select * from {{ ref('stg_respondio__channels') }}

),

phone_numbers as (

    select * from {{ ref('stg_whatsapp_cloud__phone_numbers') }}

),

messages as (

    select * from {{ ref('int_messages') }}

),

events as (

    select * from {{ ref('stg_respondio__events') }}

),

listed_channels as (

    select
        channel_id,
        channel_type,
        channel_name,
        -- respond.io's channel record carries no phone number
        cast(null as {{ dbt.type_string() }}) as business_phone
    from channels

),

referenced_channel_ids as (

    select channel_id from messages
    union
    select channel_id from events
    where channel_id is not null

),

unlisted_channel_ids as (

    select referenced_channel_ids.channel_id
    from referenced_channel_ids
    left join listed_channels
        on referenced_channel_ids.channel_id = listed_channels.channel_id
    where listed_channels.channel_id is null

),

unlisted_channels as (

    select
        unlisted_channel_ids.channel_id,
        case
            when phone_numbers.phone_number_id is not null then 'whatsapp_cloud'
            else 'other'
        end as channel_type,
        case
            when phone_numbers.phone_number_id is not null
                then {{ dbt.concat(["'WhatsApp '", 'phone_numbers.display_phone_number']) }}
        end as channel_name,
        phone_numbers.display_phone_number as business_phone
    from unlisted_channel_ids
    left join phone_numbers
        on unlisted_channel_ids.channel_id
            = {{ dbt.concat(["'whatsapp_cloud:'", 'phone_numbers.phone_number_id']) }}

),

unioned as (

    select * from listed_channels
    union all
    select * from unlisted_channels

)

select * from unioned
