with events as (

    select * from {{ ref('stg_respondio__events') }}

),

conversations as (

    select * from {{ ref('int_conversations_assembled') }}

),

comments as (

    select
        comment_id,
        occurred_at as created_at,
        contact_id,
        actor_user_id as user_id,
        comment_text
    from events
    where event_name = 'newComment'

),

-- the conversation open when the comment was written (as for messages)
candidate_conversations as (

    select
        comments.comment_id,
        conversations.conversation_id,
        row_number() over (
            partition by comments.comment_id
            order by conversations.opened_at desc, conversations.conversation_id desc
        ) as candidate_rank
    from comments
    inner join conversations
        on {{ conversation_open_at(
            'conversations', 'comments.contact_id', 'comments.created_at'
        ) }}

),

comment_conversations as (

    select comment_id, conversation_id
    from candidate_conversations
    where candidate_rank = 1

),

final as (

    select
        comments.comment_id,
        comments.created_at,
        comments.contact_id,
        comment_conversations.conversation_id,
        comments.user_id,
        -- a mention is @user.<id> in double curly braces
        {{ regexp_extract_list('comments.comment_text', '[{][{]@user[.]([0-9]+)[}][}]') }}
            as mentioned_user_ids,
        comments.comment_text
    from comments
    left join comment_conversations
        on comments.comment_id = comment_conversations.comment_id

)

select * from final
