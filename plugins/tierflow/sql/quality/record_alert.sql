insert into quality.audit_alert (kind, detail)
values (:k, cast(:d as jsonb))
