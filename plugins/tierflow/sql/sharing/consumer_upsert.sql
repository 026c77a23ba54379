insert into sharing.consumer (consumer_id, name, kind, division_code, clearance)
values (:id, :name, :kind, :division_code, :clearance)
on conflict (consumer_id) do update
set
    name = excluded.name,
    kind = excluded.kind,
    division_code = excluded.division_code,
    clearance = excluded.clearance
