-- Per consumer, its latest feed run (all feeds published under that run id), with row counts,
-- the paths (sized on disk by the caller) and whether every feed of it is acknowledged.
with latest_run as (
    select distinct on (consumer_id) consumer_id, run_id, published_at
    from feed.run
    where consumer_id = any(cast(:consumers as text[]))
    order by consumer_id, published_at desc, run_id desc
),

feeds as (
    select
        r.consumer_id,
        r.run_id,
        r.feed_name,
        r.row_count,
        r.path,
        r.watermark_to,
        r.published_at,
        w.acked_run_id,
        w.acked_at,
        coalesce(w.acked_watermark >= r.watermark_to, false) as acknowledged
    from feed.run as r
    join latest_run as l using (consumer_id, run_id)
    left join feed.watermark as w using (consumer_id, feed_name)
),

final as (
    select
        consumer_id,
        run_id,
        max(published_at) as published_at,
        count(*)::int as feeds,
        sum(row_count)::bigint as rows,
        array_agg(path order by feed_name) as paths,
        array_agg(feed_name order by feed_name) as feed_names,
        count(*) filter (where acknowledged)::int as acknowledged_feeds,
        max(acked_at) as acked_at
    from feeds
    group by consumer_id, run_id
)

select * from final
order by consumer_id
