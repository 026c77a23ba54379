select event_id, at, actor, kind, subject, reason, payload from sharing.event
where cast(:s as text) is null or subject = :s
order by event_id
