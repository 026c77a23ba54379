-- A feed's window in a run, recorded before any row is read (status 'writing').
insert into feed.run (run_id, consumer_id, feed_name, watermark_from, watermark_to, row_count,
    path, status, as_of, demand_ids, key_treatment)
values (:r, :c, :f, :wf, :wt, 0, :p, 'writing', :a, :d, cast(:k as jsonb))
