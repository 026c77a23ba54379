-- Rows of one table, counted no further than :up_to (enough to compare with a bound).
with bounded as (
    select from {table} limit :up_to
),

final as (
    select count(*) as row_count from bounded
)

select * from final
