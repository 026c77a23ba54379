-- Quarantine rate per dataset and Asia/Shanghai day, from the delivery records.
insert into quality.quarantine_rate (department, dataset, day, deliveries, rows_in,
    rows_quarantined, rate)
with per_day as (
    select
        d.department,
        d.dataset,
        (d.started_at at time zone 'Asia/Shanghai')::date as day,
        count(*) as deliveries,
        sum(d.rows_in) as rows_in,
        sum(d.rows_quarantined) as rows_quarantined
    from quality.delivery as d
    where d.status = 'loaded'
    group by 1, 2, 3
),

final as (
    select
        department, dataset, day, deliveries, rows_in, rows_quarantined,
        case when rows_in > 0 then rows_quarantined::double precision / rows_in else 0 end as rate
    from per_day
)

select * from final
on conflict (dataset, day) do update
    set department = excluded.department, deliveries = excluded.deliveries,
        rows_in = excluded.rows_in, rows_quarantined = excluded.rows_quarantined,
        rate = excluded.rate
