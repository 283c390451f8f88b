{#- The workspace's users (agents) from respond.io's user list, and any user id a message or
    an event names that the list no longer holds: respond.io's reports show a deleted user
    under its id, and so does wabi (name, role and team unknown). -#}
with users as (

    select * from {{ ref('stg_respondio__users') }}

),

messages as (

    select * from {{ ref('int_messages') }}

),

events as (

    select * from {{ ref('stg_respondio__events') }}

),

listed_users as (

    select
        user_id,
        nullif(
            trim(concat(coalesce(first_name, ''), ' ', coalesce(last_name, ''))),
            ''
        ) as user_name,
        role,
        team_name as team
    from users

),

referenced_user_ids as (

    select user_id from messages where user_id is not null
    union
    select actor_user_id from events where actor_user_id is not null
    union
    select assignee_id from events where assignee_id is not null
    union
    select previous_assignee_id from events where previous_assignee_id is not null

),

unlisted_users as (

    select
        referenced_user_ids.user_id,
        cast(null as {{ dbt.type_string() }}) as user_name,
        cast(null as {{ dbt.type_string() }}) as role,
        cast(null as {{ dbt.type_string() }}) as team
    from referenced_user_ids
    left join listed_users
        on referenced_user_ids.user_id = listed_users.user_id
    where listed_users.user_id is null

),

unioned as (

    select * from listed_users
    union all
    select * from unlisted_users

)

select * from unioned
