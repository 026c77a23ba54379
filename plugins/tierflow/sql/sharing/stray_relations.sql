-- Relations a district role was granted outside its own schema (to be revoked).
with grants as (
    select distinct table_schema, table_name
    from information_schema.role_table_grants
    where grantee = :role and table_schema <> :schema
),

final as (
    select * from grants
)

select * from final
