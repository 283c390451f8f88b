{#- Counts only: neither records nor their locations reach a mart (they may hold customers'
    numbers). `wabi rejects` lists the records themselves. -#}
with quarantined as (

    select * from {{ ref('stg_load_issues__quarantined_records') }}

),

rejected as (

    select * from {{ ref('stg_load_issues__rejected_records') }}

),

issues as (

    select
        {{ to_reporting_date('quarantined_at') }} as report_date,
        'quarantined' as kind,
        source,
        raw_table,
        reason_kind
    from quarantined
    union all
    select
        {{ to_reporting_date('rejected_at') }} as report_date,
        'rejected' as kind,
        source,
        cast(null as {{ dbt.type_string() }}) as raw_table,
        reason_kind
    from rejected

),

final as (

    select
        report_date,
        kind,
        source,
        raw_table,
        reason_kind,
        count(*) as records
    from issues
    group by report_date, kind, source, raw_table, reason_kind

)

select * from final
