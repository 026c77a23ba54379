-- A feed published: its rows and folder.
update feed.run
set status = 'published', row_count = :n, path = :p, published_at = now()
where consumer_id = :c and feed_name = :f and run_id = :r
