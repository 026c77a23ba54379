-- Move one delivery's accepted rows into the resource pool when no key repeats within it
-- (checked on the Arrow side while streaming), so no ranking pass is needed.
with staged as (
    select * from {stage}
),

published as (
    insert into {pool_table} (_delivery_id, _row_number, {columns})
    select :delivery_id, _row_number, {columns}
    from staged
    returning 1
),

final as (
    select
        0 as rows_superseded,
        (select count(*) from published) as rows_published
)

select * from final
