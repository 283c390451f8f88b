{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
    )
}}

{#- A table, not a view: eight models read the events, and a view parsed every record's JSON
    again for each of them. An incremental run parses only the records loaded since
    `incremental_since()`; a record loaded again (changed) replaces its row. -#}

with source as (

    select * from {{ source('respondio', 'events') }}
    {%- if is_incremental() %}
    where _loaded_at >= {{ incremental_since() }}
    {%- endif %}

),

renamed as (

    select
        -- ids
        _record_id as event_id,
        {{ json_string('record', '$.event') }} as event_name,
        {{ json_string('record', '$.contact.id') }} as contact_id,
        {{ json_string('record', '$.conversation.id') }} as conversation_id,
        {{ json_string('record', '$.conversation.channelId') }} as channel_id,
        {{ json_string('record', '$.comment.id') }} as comment_id,

        -- who did it: opened by, assigned by, closed by, deleted by, the comment's author
        coalesce(
            {{ json_string('record', '$.conversation.openedBy.source') }},
            {{ json_string('record', '$.assignedBy.source') }},
            {{ json_string('record', '$.conversation.closedBy.source') }},
            {{ json_string('record', '$.deletedBy.source') }},
            {{ json_string('record', '$.contact.source') }}
        ) as actor_source,
        coalesce(
            {{ json_string('record', '$.conversation.openedBy.userId') }},
            {{ json_string('record', '$.assignedBy.userId') }},
            {{ json_string('record', '$.conversation.closedBy.userId') }},
            {{ json_string('record', '$.deletedBy.userId') }},
            {{ json_string('record', '$.comment.userId') }},
            {{ json_string('record', '$.user.id') }}
        ) as actor_user_id,

        -- assignments (contactAssigneeUpdated): NULL assignee = unassigned
        {{ json_string('record', '$.assignee.id') }} as assignee_id,
        {{ json_string('record', '$.previousAssignee.id') }} as previous_assignee_id,

        -- closing notes (conversationClosed)
        {{ json_string('record', '$.conversation.closingNote.category') }} as closing_category,
        {{ json_string('record', '$.conversation.closingNote.summary') }} as closing_summary,

        -- comments (newComment)
        {{ json_string('record', '$.comment.text') }} as comment_text,

        -- new contacts (newContact): the contact record as the API returns it
        {{ json_string('record', '$.contact.countryCode') }} as contact_country_code,

        -- timestamps
        {{ epoch_seconds_to_timestamp(json_string('record', '$.timestamp')) }} as occurred_at,
        {{ epoch_seconds_to_timestamp(json_string('record', '$.conversation.openedAt')) }}
            as conversation_opened_at,
        {{ epoch_seconds_to_timestamp(json_string('record', '$.conversation.closedAt')) }}
            as conversation_closed_at,
        {{ epoch_seconds_to_timestamp(json_string('record', '$.contact.created_at')) }}
            as contact_created_at,
        _loaded_at

    from source

)

select * from renamed
