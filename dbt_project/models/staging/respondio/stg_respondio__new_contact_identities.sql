{#- The name and phone number of each contact a `newContact` event describes, vetted as in
    stg_respondio__contact_identities: the only record of a contact deleted before any
    extraction of the contact list. -#}
with source as (

    select * from {{ source('respondio', 'events') }}

),

new_contacts as (

    select *
    from source
    where {{ json_string('record', '$.event') }} = 'newContact'

),

renamed as (

    select
        -- ids
        _record_id as event_id,
        {{ json_string('record', '$.contact.id') }} as contact_id,

        -- identity (PII only as the contract allows it)
        nullif(
            trim(concat(
                coalesce({{ json_string('record', '$.contact.firstName') }}, ''),
                ' ',
                coalesce({{ json_string('record', '$.contact.lastName') }}, '')
            )),
            ''
        ) as display_name,
        {{ phone_hash(json_string('record', '$.contact.phone')) }} as phone_hash,

        -- timestamps
        _loaded_at

    from new_contacts

)

select * from renamed
