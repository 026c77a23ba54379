-- A feed purged: nothing more flows until a new approval starts it again with a first feed.
delete from feed.watermark
where consumer_id = :c and feed_name = :f
