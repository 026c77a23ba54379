-- Rows of one table (a merge step's work table or a library table), for the result counts.
with final as (
    select count(*) as row_count from {table}
)

select * from final
