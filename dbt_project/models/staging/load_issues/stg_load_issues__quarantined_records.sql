{#- Quarantined records as counts can use them: no record, id or location (they may hold a
    customer's number). The rule is one of the loaders' fixed texts (`extract/rules.py`), never a
    value from the record. -#}
with quarantined as (

    select * from {{ source('load_issues', 'quarantined_records') }}

),

final as (

    select
        source,
        raw_table,
        rule as reason_kind,
        batch_id,
        quarantined_at
    from quarantined

)

select * from final
