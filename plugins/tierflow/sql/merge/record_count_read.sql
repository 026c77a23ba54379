-- A library table's kept record count (library.record_count); no row when none is kept yet.
with kept as (
    select records from library.record_count where table_name = :table_name
),

final as (
    select records from kept
)

select * from final
