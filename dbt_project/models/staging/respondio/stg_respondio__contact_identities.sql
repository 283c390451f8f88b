{#- The contact list's names and phone numbers, vetted: a display name and the keyed hash of
    the number, never the number itself. stg_respondio__contacts keeps both out by design. -#}
with source as (

    select * from {{ source('respondio', 'contacts') }}

),

renamed as (

    select
        -- ids
        _record_id as contact_id,

        -- identity (PII only as the contract allows it)
        nullif(
            trim(concat(
                coalesce({{ json_string('record', '$.firstName') }}, ''),
                ' ',
                coalesce({{ json_string('record', '$.lastName') }}, '')
            )),
            ''
        ) as display_name,
        {{ phone_hash(json_string('record', '$.phone')) }} as phone_hash,

        -- timestamps
        _loaded_at

    from source

)

select * from renamed
