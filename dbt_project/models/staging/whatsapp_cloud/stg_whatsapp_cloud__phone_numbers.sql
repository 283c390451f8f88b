{#- The business's own WhatsApp numbers as Meta's webhooks name them (`metadata` of every
    change), read from the two element tables that carry them; a number is one row whichever
    tables and payloads it appears in. -#}
with messages as (

    select * from {{ source('whatsapp_cloud', 'messages') }}

),

statuses as (

    select * from {{ source('whatsapp_cloud', 'statuses') }}

),

numbers_seen as (

    select phone_number_id, display_phone_number, waba_id, _loaded_at from messages
    union all
    select phone_number_id, display_phone_number, waba_id, _loaded_at from statuses

),

-- the number as last seen (a WABA may rename or move a number)
numbers_ranked as (

    select
        *,
        row_number() over (
            partition by phone_number_id
            order by _loaded_at desc, display_phone_number desc
        ) as recency_rank
    from numbers_seen
    where phone_number_id is not null

),

renamed as (

    select
        -- ids
        phone_number_id,
        waba_id,

        -- attributes (the business's own number, not a customer's)
        display_phone_number,

        -- timestamps
        _loaded_at

    from numbers_ranked
    where recency_rank = 1

)

select * from renamed
