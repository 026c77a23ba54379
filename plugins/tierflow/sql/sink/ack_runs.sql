-- A consumer's feeds in one run, as an acknowledgement needs them: whether each was
-- published, where, and whether a purge notice for it came later (which ends it).
with runs as (
    select consumer_id, feed_name, watermark_to, status, path, kind, planned_at
    from feed.run
    where consumer_id = :c and run_id = :r
),

purges as (
    select consumer_id, feed_name, planned_at
    from feed.run
    where consumer_id = :c and kind = 'purge'
),

final as (
    select
        r.feed_name,
        r.watermark_to,
        r.status,
        r.path,
        r.kind,
        exists (
            select from purges as p
            where p.consumer_id = r.consumer_id
              and p.feed_name = r.feed_name
              and p.planned_at > r.planned_at
        ) as purged_since
    from runs as r
)

select * from final
order by feed_name
