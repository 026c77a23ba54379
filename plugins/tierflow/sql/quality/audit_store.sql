-- Record one due delivery's audit outcome (re-auditing a due date overwrites it).
insert into quality.delivery_audit (dataset, department, frequency, due_at, period_start,
    period_end, status, delivery_id, delivered_at, late_seconds, audited_at)
values (:dataset, :department, :frequency, :due_at, :period_start, :period_end, :outcome,
    :delivery_id, :arrived_at, :late_seconds, now())
on conflict (dataset, due_at) do update
    set status = excluded.status, delivery_id = excluded.delivery_id,
        delivered_at = excluded.delivered_at, late_seconds = excluded.late_seconds,
        period_start = excluded.period_start, period_end = excluded.period_end,
        audited_at = excluded.audited_at
