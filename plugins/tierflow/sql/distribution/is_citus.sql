-- The database is a Citus coordinator: the citus extension is installed in it.
with installed as (
    select extname from pg_extension where extname = 'citus'
),

final as (
    select exists (select from installed) as is_citus
)

select * from final
