-- Every due delivery (one row per dataset and due date, from tierflow.quality.calendar)
-- judged against what arrived in quality.delivery: the one judgement behind the console,
-- `tierflow audit` and the audit DAG.
-- A delivery counts for the due date whose period holds its as-of date (its date folder,
-- else its Asia/Shanghai arrival day): delivered_for in [period_start, period_end]. Arrival is
-- when ingest first saw the file (started_at); the sensor polls, hence the grace.
with expected as (
    select *
    from unnest(
        cast(:datasets as text[]),
        cast(:departments as text[]),
        cast(:frequencies as text[]),
        cast(:period_starts as date[]),
        cast(:period_ends as date[]),
        cast(:due_ats as timestamptz[])
    ) as e (dataset, department, frequency, period_start, period_end, due_at)
),

deliveries as (
    select
        d.delivery_id,
        d.dataset,
        d.status,
        d.started_at,
        d.error,
        d.file_path,
        coalesce(d.delivery_date, (d.started_at at time zone 'Asia/Shanghai')::date)
            as delivered_for
    from quality.delivery as d
    where d.dataset = any(cast(:datasets as text[]))
      and d.status in ('loaded', 'rejected')
),

matched as (
    select e.*, d.delivery_id, d.status, d.started_at as arrived_at, d.error, d.file_path
    from expected as e
    left join lateral (
        select delivery_id, status, started_at, error, file_path
        from deliveries as d
        where d.dataset = e.dataset
          and d.delivered_for between e.period_start and e.period_end
        -- a loaded file settles the period; a rejected one only if nothing loaded
        order by (d.status = 'loaded') desc, d.started_at, d.delivery_id
        limit 1
    ) as d on true
),

final as (
    select
        dataset,
        department,
        frequency,
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
        end as outcome,
        case
            when arrived_at > due_at then cast(extract(epoch from arrived_at - due_at) as bigint)
            when arrived_at is not null then 0
        end as late_seconds
    from matched
)

select * from final
order by department, dataset, due_at desc
