delete from sharing.negative_removal
where request_id = any(:k)
