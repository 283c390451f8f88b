with source as (

    select * from {{ source('respondio', 'messages') }}

),

status_entries as (

    select
        source._record_id as respondio_message_id,
        {{ json_string('status_entry', '$.value') }} as status,
        {{ epoch_seconds_to_timestamp(json_string('status_entry', '$.timestamp')) }} as status_at,
        {{ json_string('status_entry', '$.message') }} as status_message
    from source
    {{ json_array_elements('source.record', '$.status', 'status_entry') }}

)

select * from status_entries
