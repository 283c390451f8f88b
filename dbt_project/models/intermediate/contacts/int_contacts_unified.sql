{#- One row per contact whichever source knows it:
    1. the contact list (POST /contact/list): every contact listed at some extraction; raw
       keeps a contact once listed, so it stays here after it is deleted;
    2. `newContact` events: a contact deleted before any extraction is never listed, and its
       event is the only record of it; the event also says how the contact was added;
    3. messages (int_messages): a contact only messages name, chiefly a WhatsApp customer only
       Meta's webhooks know (`whatsapp_cloud:` and the keyed hash of the number);
    4. `contactDeleted` events: a contact deleted before wabi saw anything else of it (its id
       and deletion time are all that is known; it still counts among the day's deletions).
    Attributes come from the first of these that knows the contact; deletions from wabi's
    `contactDeleted` events, which date them to the second. -#}
with listed_contacts as (

    select * from {{ ref('stg_respondio__contacts') }}

),

listed_identities as (

    select * from {{ ref('stg_respondio__contact_identities') }}

),

events as (

    select * from {{ ref('stg_respondio__events') }}

),

new_contact_identities as (

    select * from {{ ref('stg_respondio__new_contact_identities') }}

),

messages as (

    select * from {{ ref('int_messages') }}

),

listed as (

    select
        listed_contacts.contact_id,
        listed_identities.display_name,
        listed_identities.phone_hash,
        listed_contacts.country_code,
        listed_contacts.created_at
    from listed_contacts
    left join listed_identities
        on listed_contacts.contact_id = listed_identities.contact_id

),

-- a contact is announced once; should it be announced again, the first event counts
new_contact_events_ranked as (

    select
        events.contact_id,
        events.actor_source as contact_source,
        new_contact_identities.display_name,
        new_contact_identities.phone_hash,
        events.contact_country_code as country_code,
        coalesce(events.contact_created_at, events.occurred_at) as created_at,
        row_number() over (
            partition by events.contact_id
            order by events.occurred_at, events.event_id
        ) as event_rank
    from events
    left join new_contact_identities
        on events.event_id = new_contact_identities.event_id
    where events.event_name = 'newContact'

),

new_contact_events as (

    select * from new_contact_events_ranked
    where event_rank = 1

),

-- a contact deleted more than once (restored in between) is dated by its last deletion
deletions as (

    select
        contact_id,
        max(occurred_at) as deleted_at
    from events
    where event_name = 'contactDeleted'
    group by contact_id

),

message_contacts as (

    select
        contact_id,
        min(created_at) as first_message_at
    from messages
    group by contact_id

),

contact_ids as (

    select contact_id from listed
    union
    select contact_id from new_contact_events
    union
    select contact_id from message_contacts
    union
    select contact_id from deletions

),

unified as (

    select
        contact_ids.contact_id,
        case
            when listed.contact_id is not null then 'contact_list'
            when new_contact_events.contact_id is not null then 'new_contact_event'
            when message_contacts.contact_id is not null then 'messages'
            else 'contact_deleted_event'
        end as described_by,
        coalesce(listed.display_name, new_contact_events.display_name) as display_name,
        coalesce(
            listed.phone_hash,
            new_contact_events.phone_hash,
            -- a Meta-only contact is keyed by its number's hash (64 hex digits); one keyed by
            -- Meta's business-scoped user id (a status without a number) has no hash
            case
                when contact_ids.contact_id like 'whatsapp_cloud:%'
                    and {{ dbt.length(dbt.split_part('contact_ids.contact_id', "':'", 2)) }} = 64
                    then {{ dbt.split_part('contact_ids.contact_id', "':'", 2) }}
            end
        ) as phone_hash,
        coalesce(listed.country_code, new_contact_events.country_code) as country_code,
        coalesce(
            listed.created_at,
            new_contact_events.created_at,
            message_contacts.first_message_at
        ) as created_at,
        new_contact_events.contact_source,
        -- how the contact was added, from its newContact event; a source wabi does not map
        -- stays as it came and fails the accepted_values test rather than being guessed
        case
            when new_contact_events.contact_source is null then 'unknown'
            when new_contact_events.contact_source = 'incoming_message' then 'inbound'
            when new_contact_events.contact_source = 'user' then 'manual'
            when new_contact_events.contact_source = 'contact_import' then 'import'
            when new_contact_events.contact_source = 'developer_api' then 'api'
            when new_contact_events.contact_source in ('echo', 'echo_message') then 'echo'
            else new_contact_events.contact_source
        end as created_via,
        deletions.deleted_at,
        deletions.deleted_at is not null as is_deleted,
        listed.contact_id is not null as is_listed
    from contact_ids
    left join listed
        on contact_ids.contact_id = listed.contact_id
    left join new_contact_events
        on contact_ids.contact_id = new_contact_events.contact_id
    left join deletions
        on contact_ids.contact_id = deletions.contact_id
    left join message_contacts
        on contact_ids.contact_id = message_contacts.contact_id

)

select * from unified
