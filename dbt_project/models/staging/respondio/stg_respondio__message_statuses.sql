with source as (

    select * from {{ source('respondio', 'messages') }}

),

status_entries as (

    {{ select_json_array_elements(
        'source', ['_record_id', '_loaded_at'], 'record', '$.status', 'status_entry'
    ) }}

),

renamed as (

    select
        _record_id as respondio_message_id,
        {{ json_string('status_entry', '$.value') }} as status,
        {{ epoch_seconds_to_timestamp(json_string('status_entry', '$.timestamp')) }} as status_at,
        {{ json_string('status_entry', '$.message') }} as status_message,
        _loaded_at
    from status_entries

)

select * from renamed
