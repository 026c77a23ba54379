delete from sharing.consumer
where consumer_id = any(:k)
