-- Pool rows of one dataset in the deliveries this merge takes: the rows_in of the result.
with new_rows as (
    select 1
    from {pool_table}
    where _delivery_id > :low and _delivery_id <= :high
),

final as (
    select count(*) as rows_in from new_rows
)

select * from final
