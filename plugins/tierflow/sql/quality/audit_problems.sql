-- The latest due deliveries that were not on time, for the quality report.
with problems as (
    select dataset, department, due_at, status, late_seconds
    from quality.delivery_audit
    where status <> 'on_time'
      and period_end between :s and :e
),

final as (
    select * from problems order by due_at desc, dataset limit 50
)

select * from final
