-- Rows of one table, counted no further than :up_to (enough to compare with a bound). It
-- selects a constant, not nothing: Citus cannot plan a select of no columns.
with bounded as (
    select 1 from {table} limit :up_to
),

final as (
    select count(*) as row_count from bounded
)

select * from final
