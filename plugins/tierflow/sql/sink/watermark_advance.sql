-- The consumer applied a run: its watermark moves to the run's window end (never back).
insert into feed.watermark (consumer_id, feed_name, acked_run_id, acked_watermark)
values (:c, :f, :r, :w)
on conflict (consumer_id, feed_name) do update
    set acked_run_id = excluded.acked_run_id,
        acked_watermark = excluded.acked_watermark,
        acked_at = now()
    where feed.watermark.acked_watermark < excluded.acked_watermark
returning 1
