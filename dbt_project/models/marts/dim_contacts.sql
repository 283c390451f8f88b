with contacts as (

    select * from {{ ref('int_contacts_unified') }}

),

messages as (

    select * from {{ ref('int_messages') }}

),

events as (

    select * from {{ ref('stg_respondio__events') }}

),

incoming_by_contact as (

    select
        contact_id,
        min(created_at) as first_incoming_at,
        max(created_at) as last_incoming_at,
        count(*) as messages_received
    from messages
    where direction = 'incoming'
    group by contact_id

),

-- a conversation is known from its opened or its closed event (one may predate the captures)
conversations_by_contact as (

    select
        contact_id,
        count(distinct conversation_id) as conversations
    from events
    where event_name in ('conversationOpened', 'conversationClosed')
        and conversation_id is not null
    group by contact_id

),

final as (

    select
        contacts.contact_id,
        contacts.display_name,
        contacts.phone_hash,
        contacts.country_code,
        contacts.created_at,
        contacts.created_via,
        contacts.deleted_at,
        contacts.is_deleted,
        incoming_by_contact.first_incoming_at,
        incoming_by_contact.last_incoming_at,
        coalesce(conversations_by_contact.conversations, 0) as conversations,
        coalesce(incoming_by_contact.messages_received, 0) as messages_received
    from contacts
    left join incoming_by_contact
        on contacts.contact_id = incoming_by_contact.contact_id
    left join conversations_by_contact
        on contacts.contact_id = conversations_by_contact.contact_id

)

select * from final
