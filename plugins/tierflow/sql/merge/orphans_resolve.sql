-- Clear orphan flags of one relation whose missing key now exists in the target library
-- (for example, the legal representative's person record has been merged since).
with resolved as (
    delete from quality.orphan as flag
    where flag.library = :library and flag.relation = :relation
      and exists (select 1 from {target_table} as target where target.{target_key} = flag.missing_key)
    returning 1
),

final as (
    select count(*) as resolved from resolved
)

select * from final
