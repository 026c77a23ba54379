-- Drop the orphan flags of the touched keys of one relation; orphans_flag.sql re-flags those
-- still orphaned, so a reference that changed or was fixed does not leave a stale flag.
with forgotten as (
    delete from quality.orphan as flag
    using {touched} as touched
    where flag.library = :library and flag.relation = :relation and flag.key = {touched_key_text}
    returning 1
),

final as (
    select count(*) as forgotten from forgotten
)

select * from final
