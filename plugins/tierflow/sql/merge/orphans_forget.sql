-- Drop the orphan flags of the touched keys of one relation; orphans_flag.sql re-flags those
-- still orphaned, so a reference that changed or was fixed does not leave a stale flag.
-- The flags to drop are found first, then deleted by key: on Citus quality.orphan is a
-- reference table, which a statement may not modify while reading a distributed table, and
-- only those few flags (not the touched keys) then cross the coordinator.
with touched_flags as materialized (
    select flag.key
    from quality.orphan as flag
    inner join {touched} as touched on flag.key = {touched_key_text}
    where flag.library = :library and flag.relation = :relation
),

forgotten as (
    delete from quality.orphan as flag
    where flag.library = :library and flag.relation = :relation
      and flag.key in (select touched_flags.key from touched_flags)
    returning 1
),

final as (
    select count(*) as forgotten from forgotten
)

select * from final
