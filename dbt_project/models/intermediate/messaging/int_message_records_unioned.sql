{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['source', '_record_id'],
        on_schema_change='fail',
    )
}}

{#- Each source's own record of a message, in one shape and parsed once: respond.io's message
    records and Meta's incoming messages. An incremental run reads only the raw rows loaded
    since `incremental_since()` and replaces what each said; int_messages decides, per message,
    whose description wins. -#}
{%- if is_incremental() %}
    {%- set since = incremental_since() %}
{%- endif %}

with respondio_messages as (

    select * from {{ ref('stg_respondio__messages') }}

),

whatsapp_cloud_messages as (

    select * from {{ ref('stg_whatsapp_cloud__messages') }}

),

respondio_records as (

    select
        message_id,
        'respondio' as source,
        respondio_message_id,
        channel_id,
        contact_id,
        direction,
        sender_type,
        user_id,
        message_type,
        created_at,
        respondio_message_id as _record_id,
        _loaded_at
    from respondio_messages
    {% if is_incremental() -%}
    where _loaded_at >= {{ since }}
    {%- endif %}

),

-- Meta knows neither respond.io's ids: the business number and the customer's hashed number
whatsapp_cloud_records as (

    select
        wamid as message_id,
        'whatsapp_cloud' as source,
        cast(null as {{ dbt.type_string() }}) as respondio_message_id,
        {{ dbt.concat(["'whatsapp_cloud:'", 'phone_number_id']) }} as channel_id,
        {{ dbt.concat(["'whatsapp_cloud:'", 'contact_phone_hash']) }} as contact_id,
        'incoming' as direction,
        'contact' as sender_type,
        cast(null as {{ dbt.type_string() }}) as user_id,
        message_type,
        created_at,
        wamid as _record_id,
        _loaded_at
    from whatsapp_cloud_messages
    {% if is_incremental() -%}
    where _loaded_at >= {{ since }}
    {%- endif %}

),

unioned as (

    select * from respondio_records
    union all
    select * from whatsapp_cloud_records

)

select * from unioned
