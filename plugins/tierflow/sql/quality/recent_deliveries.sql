-- The latest deliveries, optionally of one dataset, with their quarantine rate.
with deliveries as (
    select *
    from quality.delivery
    where cast(:dataset as text) is null or dataset = cast(:dataset as text)
    order by started_at desc, delivery_id desc
    limit :limit
),

final as (
    select
        delivery_id,
        dataset,
        department,
        delivery_date,
        status,
        rows_in,
        rows_accepted,
        rows_quarantined,
        rows_superseded,
        rows_warned,
        case when rows_in > 0 then rows_quarantined::float / rows_in end as quarantine_rate,
        suite_success,
        gx_scope,
        gx_status as gx_report,
        gx_success,
        error,
        file_path,
        quarantine_path,
        started_at,
        finished_at
    from deliveries
)

select * from final
