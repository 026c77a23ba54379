-- A source's size as the planner knows it (no scan): estimated rows, and its pages in this
-- snapshot (every row the run's statements can see lies below).
with relation as (
    select
        greatest(reltuples, 0) as row_estimate,
        pg_relation_size(oid) / current_setting('block_size')::bigint as pages
    from pg_class
    where oid = to_regclass(:t)
),

final as (
    select row_estimate, pages from relation
)

select * from final
