{#- One row per message (int_messages) with the conversation it belongs to: the conversation of
    its contact open at the message's created_at (opened at or before it, not closed before it),
    or NULL (a broadcast between conversations, a message only Meta knows). Conversations of one
    contact do not overlap; if lost events ever made two match, the later-opened one wins. -#}
with messages as (

    select * from {{ ref('int_messages') }}

),

conversations as (

    select * from {{ ref('int_conversations_assembled') }}

),

candidate_conversations as (

    select
        messages.message_id,
        conversations.conversation_id,
        row_number() over (
            partition by messages.message_id
            order by conversations.opened_at desc, conversations.conversation_id desc
        ) as candidate_rank
    from messages
    inner join conversations
        on {{ conversation_open_at(
            'conversations', 'messages.contact_id', 'messages.created_at'
        ) }}

),

message_conversations as (

    select message_id, conversation_id
    from candidate_conversations
    where candidate_rank = 1

),

attributed as (

    select
        messages.message_id,
        message_conversations.conversation_id,
        messages.channel_id,
        messages.contact_id,
        messages.direction,
        messages.sender_type,
        messages.user_id,
        messages.created_at
    from messages
    left join message_conversations
        on messages.message_id = message_conversations.message_id

)

select * from attributed
