{#- Rejected lines and records as counts can use them: no text or location (they may hold a
    customer's number). A reason is `<kind>: <detail>`, the detail a position: only the kind is
    kept, as the loaders count rejects (`extract/captures.py`, `_reason_kind`). -#}
with rejected as (

    select * from {{ source('load_issues', 'rejected_records') }}

),

final as (

    select
        source,
        {{ dbt.split_part('reason', "':'", 1) }} as reason_kind,
        batch_id,
        rejected_at
    from rejected

)

select * from final
