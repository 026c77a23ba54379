-- Per dataset and delivery day: the share of delivered rows that passed the blocking rules.
-- Days are the delivery's own date (the data's as-of date), so a re-run does not move a point.
with deliveries as (
    select
        dataset,
        coalesce(delivery_date, (started_at at time zone 'Asia/Shanghai')::date) as day,
        status,
        rows_in,
        rows_accepted,
        rows_quarantined,
        gx_status
    from quality.delivery
    where status in ('loaded', 'rejected')
      and coalesce(delivery_date, (started_at at time zone 'Asia/Shanghai')::date)
          >= cast(:since as date)
),

final as (
    select
        dataset,
        day,
        count(*) filter (where status = 'loaded') as deliveries,
        count(*) filter (where status = 'rejected') as rejected,
        sum(rows_in)::bigint as rows_in,
        sum(rows_accepted)::bigint as rows_accepted,
        sum(rows_quarantined)::bigint as rows_quarantined,
        count(*) filter (where gx_status = 'pending') as gx_pending,
        count(*) filter (where gx_status = 'done') as gx_done,
        case
            when sum(rows_in) filter (where status = 'loaded') > 0
                then sum(rows_accepted) filter (where status = 'loaded')::float
                    / sum(rows_in) filter (where status = 'loaded')
        end as pass_rate
    from deliveries
    group by dataset, day
)

select * from final
order by dataset, day
