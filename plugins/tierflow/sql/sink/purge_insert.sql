-- A purge notice of a run, recorded before it is written (status 'writing').
insert into feed.run (run_id, consumer_id, feed_name, watermark_from, watermark_to, row_count,
    path, status, as_of, kind, demand_ids, key_treatment, purge_reason, planned_at)
values (:r, :c, :f, :wf, :wt, 0, :p, 'writing', :a, 'purge', :d, cast(:k as jsonb), :why, :at)
