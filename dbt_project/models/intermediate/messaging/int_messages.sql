{#- One row per message whichever source knows it. A WhatsApp message respond.io knows is keyed
    by the same wamid Meta uses, so a message in both is one row, described by respond.io (it
    knows the contact, the channel, who sent it); Meta adds what respond.io does not know:
    incoming messages it has not pulled yet, and outgoing messages sent around it (known to Meta
    only from their statuses). Status events are unioned apart (int_message_status_events). -#}
with respondio_messages as (

    select * from {{ ref('stg_respondio__messages') }}

),

whatsapp_cloud_messages as (

    select * from {{ ref('stg_whatsapp_cloud__messages') }}

),

whatsapp_cloud_statuses as (

    select * from {{ ref('stg_whatsapp_cloud__message_statuses') }}

),

respondio_described as (

    select
        message_id,
        respondio_message_id,
        channel_id,
        contact_id,
        direction,
        sender_type,
        user_id,
        message_type,
        created_at,
        'respondio' as source
    from respondio_messages

),

whatsapp_cloud_incoming as (

    select
        wamid as message_id,
        cast(null as {{ dbt.type_string() }}) as respondio_message_id,
        {{ dbt.concat(["'whatsapp_cloud:'", 'phone_number_id']) }} as channel_id,
        {{ dbt.concat(["'whatsapp_cloud:'", 'contact_phone_hash']) }} as contact_id,
        'incoming' as direction,
        'contact' as sender_type,
        cast(null as {{ dbt.type_string() }}) as user_id,
        message_type,
        created_at,
        'whatsapp_cloud' as source
    from whatsapp_cloud_messages

),

-- status events of wamids Meta never delivered as incoming messages: outgoing messages
outgoing_statuses as (

    select whatsapp_cloud_statuses.*
    from whatsapp_cloud_statuses
    left join whatsapp_cloud_messages
        on whatsapp_cloud_statuses.wamid = whatsapp_cloud_messages.wamid
    where whatsapp_cloud_messages.wamid is null

),

whatsapp_cloud_outgoing as (

    select
        wamid as message_id,
        cast(null as {{ dbt.type_string() }}) as respondio_message_id,
        {{ dbt.concat(["'whatsapp_cloud:'", 'max(phone_number_id)']) }} as channel_id,
        {{ dbt.concat([
            "'whatsapp_cloud:'",
            'coalesce(max(recipient_phone_hash), max(recipient_user_id))',
        ]) }} as contact_id,
        'outgoing' as direction,
        -- Meta's statuses say neither who sent the message nor what it held
        cast(null as {{ dbt.type_string() }}) as sender_type,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as message_type,
        -- Meta never tells when it was written: when it was sent, else first heard of
        coalesce(
            min(case when status = 'sent' then status_at end),
            min(status_at)
        ) as created_at,
        'whatsapp_cloud' as source
    from outgoing_statuses
    group by wamid

),

whatsapp_cloud_described as (

    select * from whatsapp_cloud_incoming
    union all
    select * from whatsapp_cloud_outgoing

),

whatsapp_cloud_only as (

    select whatsapp_cloud_described.*
    from whatsapp_cloud_described
    left join respondio_described
        on whatsapp_cloud_described.message_id = respondio_described.message_id
    where respondio_described.message_id is null

),

unioned as (

    select * from respondio_described
    union all
    select * from whatsapp_cloud_only

),

final as (

    select
        unioned.*,
        whatsapp_cloud_described.message_id is not null as is_known_to_whatsapp_cloud
    from unioned
    left join whatsapp_cloud_described
        on unioned.message_id = whatsapp_cloud_described.message_id

)

select * from final
