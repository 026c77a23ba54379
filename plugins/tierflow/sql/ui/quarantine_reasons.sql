-- The latest loaded delivery of each dataset and how often each rule quarantined a row in it.
-- A row failing several rules counts once per rule, as the operator reads "what is wrong".
with latest as (
    select distinct on (dataset)
        delivery_id, dataset, delivery_date, rows_in, rows_quarantined, started_at
    from quality.delivery
    where status = 'loaded'
    -- the newest data, not the newest load: a backfill of an old day must not hide today's reasons
    order by dataset, delivery_date desc nulls last, started_at desc, delivery_id desc
),

reasons as (
    select q.delivery_id, reason, count(*)::bigint as rows
    from quality.quarantine as q
    join latest using (delivery_id)
    cross join lateral unnest(q.reasons) as reason
    group by q.delivery_id, reason
),

final as (
    select
        l.dataset,
        l.delivery_id,
        l.delivery_date,
        l.rows_in,
        l.rows_quarantined,
        r.reason,
        r.rows
    from latest as l
    left join reasons as r using (delivery_id)
)

select * from final
order by dataset, rows desc nulls last, reason
