{{ config(meta={'dagster': {'ref': {'name': 'fct_messages'}}}) }}

-- Every raw message reaches fct_messages exactly once: no message lost or doubled by the joins.
with raw_messages as (

    select count(*) as messages from {{ source('respondio', 'messages') }}

),

fact_messages as (

    select count(*) as messages from {{ ref('fct_messages') }}

)

select raw_messages.messages as raw_messages, fact_messages.messages as fact_messages
from raw_messages
cross join fact_messages
where raw_messages.messages != fact_messages.messages
