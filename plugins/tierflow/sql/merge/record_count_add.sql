-- A library table's record count after a merge: the kept count plus the records it inserted
-- (a merge never deletes a record). No row when none is kept yet: the caller counts once.
with added as (
    update library.record_count
    set records = records + :inserted
    where table_name = :table_name
    returning records
),

final as (
    select records from added
)

select * from final
