-- Tables of tierflow's schemas, partitions left out (they follow their parent).
with tables as (
    select namespace.nspname || '.' || class.relname as table_name
    from pg_class as class
    join pg_namespace as namespace on namespace.oid = class.relnamespace
    where class.relkind in ('r', 'p')
        and not class.relispartition
        and namespace.nspname = any(:schemas)
),

final as (
    select table_name
    from tables
    order by table_name
)

select * from final
