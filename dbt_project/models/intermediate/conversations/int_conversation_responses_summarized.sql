{#- One row per conversation with at least one incoming message: its first response and its
    response times. The first run starts at the conversation's first incoming message, so the
    answer to the first run is the first human user's message after it: the first response. -#}
with runs as (

    select * from {{ ref('int_incoming_runs_answered') }}

),

first_runs as (

    select
        conversation_id,
        run_started_at as first_incoming_at,
        answered_at as first_response_at,
        answered_by_user_id as first_response_user_id,
        response_seconds as first_response_seconds
    from runs
    where run_number = 1

),

response_times as (

    select
        conversation_id,
        count(answered_at) as responses,
        avg(response_seconds) as avg_response_seconds
    from runs
    group by conversation_id

),

summarized as (

    select
        first_runs.conversation_id,
        first_runs.first_incoming_at,
        first_runs.first_response_at,
        first_runs.first_response_user_id,
        first_runs.first_response_seconds,
        response_times.responses,
        response_times.avg_response_seconds
    from first_runs
    inner join response_times
        on first_runs.conversation_id = response_times.conversation_id

)

select * from summarized
