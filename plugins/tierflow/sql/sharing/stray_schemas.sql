-- Schemas other than its own and ``share`` (whose function its policies call) on which a
-- district role holds a privilege (to be revoked).
with privileges as (
    select n.nspname
    from pg_namespace as n, aclexplode(n.nspacl) as acl
    where acl.grantee = to_regrole(:role) and n.nspname not in (:schema, 'share')
),

final as (
    select distinct nspname from privileges
)

select * from final
