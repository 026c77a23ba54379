-- A library table's record count as counted (its first merge since the count was kept).
with counted as (
    insert into library.record_count (table_name, records)
    values (:table_name, :records)
    on conflict (table_name) do update set records = excluded.records
    returning records
),

final as (
    select records from counted
)

select * from final
