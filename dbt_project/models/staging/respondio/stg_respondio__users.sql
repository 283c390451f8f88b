with source as (

    select * from {{ source('respondio', 'users') }}

),

renamed as (

    select
        -- ids
        _record_id as user_id,
        {{ json_string('record', '$.team.id') }} as team_id,

        -- attributes (users are the business's own agents; their email stays in raw)
        {{ json_string('record', '$.firstName') }} as first_name,
        {{ json_string('record', '$.lastName') }} as last_name,
        {{ json_string('record', '$.role') }} as role,
        {{ json_string('record', '$.team.name') }} as team_name,

        -- timestamps
        _loaded_at

    from source

)

select * from renamed
