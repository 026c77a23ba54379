-- Per department over a window of due dates: due, on time, late, missing, rejected; and the
-- department's quarantine rate over the same days.
with audited as (
    select department, status
    from quality.delivery_audit
    where period_end between :start and :end
),

deliveries as (
    select
        department,
        count(*) as due,
        count(*) filter (where status = 'on_time') as on_time,
        count(*) filter (where status = 'late') as late,
        count(*) filter (where status = 'missing') as missing,
        count(*) filter (where status = 'rejected') as rejected
    from audited
    group by department
),

quarantine as (
    select department, sum(rows_in)::bigint as rows_in, sum(rows_quarantined)::bigint as rows_quarantined
    from quality.quarantine_rate
    where day between :start and :end
    group by department
),

final as (
    select
        coalesce(d.department, q.department) as department,
        coalesce(d.due, 0) as due,
        coalesce(d.on_time, 0) as on_time,
        coalesce(d.late, 0) as late,
        coalesce(d.missing, 0) as missing,
        coalesce(d.rejected, 0) as rejected,
        coalesce(q.rows_in, 0) as rows_in,
        coalesce(q.rows_quarantined, 0) as rows_quarantined,
        case when coalesce(q.rows_in, 0) > 0
             then q.rows_quarantined::double precision / q.rows_in else 0 end as quarantine_rate
    from deliveries as d
    full join quarantine as q using (department)
)

select * from final order by department
