{#- The Contacts report, one row per day from the first to the last day with any activity
    (a contact added, deleted or writing), zero-filled between. -#}
with contacts as (

    select * from {{ ref('dim_contacts') }}

),

messages as (

    select * from {{ ref('fct_messages') }}

),

contacts_dated as (

    select
        *,
        {{ to_reporting_date('created_at') }} as created_date,
        {{ to_reporting_date('deleted_at') }} as deleted_date
    from contacts

),

added_daily as (

    select
        created_date as report_date,
        count(*) as new_contacts,
        count(case when created_via = 'inbound' then 1 end) as new_inbound,
        count(case when created_via = 'manual' then 1 end) as new_manual,
        count(case when created_via = 'import' then 1 end) as new_import,
        count(case when created_via = 'api' then 1 end) as new_api
    from contacts_dated
    where created_date is not null
    group by created_date

),

deleted_daily as (

    select
        deleted_date as report_date,
        count(*) as deleted_contacts
    from contacts_dated
    where deleted_date is not null
    group by deleted_date

),

active_contact_days as (

    select distinct
        report_date,
        contact_id
    from messages
    where direction = 'incoming'

),

active_daily as (

    select
        active_contact_days.report_date,
        count(*) as active_contacts,
        count(
            case when contacts_dated.created_date = active_contact_days.report_date then 1 end
        ) as active_new
    from active_contact_days
    left join contacts_dated
        on active_contact_days.contact_id = contacts_dated.contact_id
    group by active_contact_days.report_date

),

activity_dates as (

    select report_date from added_daily
    union
    select report_date from deleted_daily
    union
    select report_date from active_daily

),

date_bounds as (

    select
        min(report_date) as first_date,
        max(report_date) as last_date
    from activity_dates

),

date_spine as (

    select {{ dates_from_to('first_date', 'last_date') }} as report_date
    from date_bounds

),

final as (

    select
        date_spine.report_date,
        coalesce(added_daily.new_contacts, 0) as new_contacts,
        coalesce(added_daily.new_inbound, 0) as new_inbound,
        coalesce(added_daily.new_manual, 0) as new_manual,
        coalesce(added_daily.new_import, 0) as new_import,
        coalesce(added_daily.new_api, 0) as new_api,
        coalesce(deleted_daily.deleted_contacts, 0) as deleted_contacts,
        coalesce(active_daily.active_contacts, 0) as active_contacts,
        coalesce(active_daily.active_new, 0) as active_new,
        coalesce(active_daily.active_contacts - active_daily.active_new, 0) as active_returning
    from date_spine
    left join added_daily
        on date_spine.report_date = added_daily.report_date
    left join deleted_daily
        on date_spine.report_date = deleted_daily.report_date
    left join active_daily
        on date_spine.report_date = active_daily.report_date

)

select * from final
