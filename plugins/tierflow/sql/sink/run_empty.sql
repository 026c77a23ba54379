-- An incremental feed whose window held no change: nothing published, the window kept.
update feed.run
set status = 'empty', row_count = 0, published_at = now()
where consumer_id = :c and feed_name = :f and run_id = :r
