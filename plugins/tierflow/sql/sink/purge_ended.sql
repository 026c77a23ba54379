-- Feeds that need a purge notice: for each (consumer, feed), the published change runs
-- since its last purge notice; a feed whose latest published run is a change run has been
-- received, and (the caller checks) no demand in force lets it flow any more. The keys the
-- district has received lie in the versions in scope between the first and the last of
-- those runs' window ends (sent_from, sent_to); a new notice is planned at this
-- transaction's time (planned_at).
with published as (
    select
        r.consumer_id,
        r.feed_name,
        r.run_id,
        r.kind,
        r.watermark_to,
        r.demand_ids,
        r.key_treatment,
        r.path,
        r.planned_at
    from feed.run as r
    where r.consumer_id = any(:consumers)
      and r.status = 'published'
),

last_purge as (
    select consumer_id, feed_name, max(planned_at) as purged_at
    from published
    where kind = 'purge'
    group by consumer_id, feed_name
),

since_purge as (
    select p.*
    from published as p
    left join last_purge as l
        on l.consumer_id = p.consumer_id and l.feed_name = p.feed_name
    where p.kind = 'changes'
      and (l.purged_at is null or p.planned_at > l.purged_at)
),

latest as (
    select distinct on (consumer_id, feed_name)
        consumer_id, feed_name, run_id, demand_ids, key_treatment, path
    from since_purge
    order by consumer_id, feed_name, planned_at desc, run_id desc
),

final as (
    select
        l.consumer_id,
        l.feed_name,
        l.run_id as last_run_id,
        l.demand_ids,
        l.key_treatment,
        l.path,
        min(s.watermark_to) as sent_from,
        max(s.watermark_to) as sent_to,
        now() as planned_at
    from latest as l
    inner join since_purge as s
        on s.consumer_id = l.consumer_id and s.feed_name = l.feed_name
    group by l.consumer_id, l.feed_name, l.run_id, l.demand_ids, l.key_treatment, l.path
)

select * from final
