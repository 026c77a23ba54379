-- A purge notice published (the caller then forgets the district's watermark for it).
update feed.run
set status = 'published', row_count = :n, published_at = now()
where consumer_id = :c and feed_name = :f and run_id = :r
