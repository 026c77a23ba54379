-- Clear orphan flags of one relation whose missing key now exists in the target library
-- (for example, the legal representative's person record has been merged since).
-- Found first, then deleted by key (see orphans_forget.sql: quality.orphan is a reference
-- table on Citus).
with found as materialized (
    select flag.key
    from quality.orphan as flag
    inner join {target_table} as target on target.{target_key} = flag.missing_key
    where flag.library = :library and flag.relation = :relation
),

resolved as (
    delete from quality.orphan as flag
    where flag.library = :library and flag.relation = :relation
      and flag.key in (select found.key from found)
    returning 1
),

final as (
    select count(*) as resolved from resolved
)

select * from final
