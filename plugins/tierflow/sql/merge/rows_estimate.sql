-- The planner's row estimate of a table, its partitions included (a partitioned pool's parent
-- holds none itself; each delivery's partition is analysed by its load). Never negative.
with parts as (
    select c.reltuples
    from pg_class as c
    where c.oid = cast(:t as regclass)
    union all
    select c.reltuples
    from pg_inherits as i
    inner join pg_class as c on c.oid = i.inhrelid
    where i.inhparent = cast(:t as regclass)
),

final as (
    select coalesce(sum(greatest(reltuples, 0)), 0) as estimate from parts
)

select * from final
