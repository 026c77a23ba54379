insert into sharing.negative_removal (
    request_id,
    dataset,
    field,
    reason,
    requested_by,
    requested_at,
    status,
    approved_by,
    approved_at
)
values (
    :id,
    :dataset,
    :field,
    :reason,
    :requested_by,
    cast(:requested_at as timestamptz),
    :status,
    :approved_by,
    cast(:approved_at as timestamptz)
)
on conflict (request_id) do update
set
    status = excluded.status,
    approved_by = excluded.approved_by,
    approved_at = excluded.approved_at
