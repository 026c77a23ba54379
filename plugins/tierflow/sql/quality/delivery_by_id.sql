-- One delivery's ledger row.
with delivery as (
    select *
    from quality.delivery
    where delivery_id = :delivery_id
),

final as (
    select * from delivery
)

select * from final
