-- Each expected delivery of the responsibility list (one row per dataset and due date, computed
-- in Python from the list) against what actually arrived in quality.delivery.
-- A delivery belongs to the period whose due date is the first one after its as-of date
-- (a daily extract dated D is due on D + 1), i.e. delivery_date in [period_start, period_end].
-- Arrival is when ingest first saw the file (started_at): the sensor polls, hence the grace.
with expected as (
    select *
    from unnest(
        cast(:datasets as text[]),
        cast(:departments as text[]),
        cast(:period_starts as date[]),
        cast(:period_ends as date[]),
        cast(:due_ats as timestamptz[])
    ) as e (dataset, department, period_start, period_end, due_at)
),

matched as (
    select e.*, d.delivery_id, d.status, d.started_at as arrived_at, d.error, d.file_path
    from expected as e
    left join lateral (
        select delivery_id, status, started_at, error, file_path
        from quality.delivery as d
        where d.dataset = e.dataset
          and d.delivery_date between e.period_start and e.period_end
        -- a loaded file settles the period; a rejected one only if nothing loaded
        order by (d.status = 'loaded') desc, d.started_at
        limit 1
    ) as d on true
),

final as (
    select
        dataset,
        department,
        period_start,
        period_end,
        due_at,
        delivery_id,
        status,
        arrived_at,
        error,
        file_path,
        case
            when delivery_id is null then 'missing'
            when status = 'rejected' then 'rejected'
            when arrived_at > due_at + make_interval(mins => cast(:grace_minutes as int)) then 'late'
            else 'on_time'
        end as outcome
    from matched
)

select * from final
order by department, dataset, due_at desc
