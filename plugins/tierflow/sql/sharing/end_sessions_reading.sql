-- End the sessions (other than this one) holding a lock on a relation of the schema.
with readers as (
    select distinct l.pid
    from pg_locks as l
    inner join pg_class as c on c.oid = l.relation
    inner join pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = :s and l.pid <> pg_backend_pid()
),

final as (
    select pg_terminate_backend(pid) as ended
    from readers
)

select * from final
