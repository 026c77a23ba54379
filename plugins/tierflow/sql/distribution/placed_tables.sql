-- Tables already in Citus's metadata (distributed, reference or Citus-local) that the plan
-- need not place again; Citus-local ones (made so by a foreign key to a reference table) are
-- not placed yet.
with placed as (
    select logicalrelid::regclass::text as table_name
    from pg_dist_partition
    where partmethod = 'h' or repmodel = 't'
),

final as (
    select table_name
    from placed
)

select * from final
