-- Loaded deliveries counting for due dates in [:period_start, :period_end] (the date folder
-- of the delivery, else its Asia/Shanghai arrival day).
with deliveries as (
    select
        d.delivery_id,
        d.dataset,
        d.department,
        d.started_at,
        coalesce(d.delivery_date, (d.started_at at time zone 'Asia/Shanghai')::date) as delivered_for
    from quality.delivery as d
    where d.status = 'loaded'
),

final as (
    select *
    from deliveries
    where delivered_for between :period_start and :period_end
)

select * from final order by dataset, started_at, delivery_id
