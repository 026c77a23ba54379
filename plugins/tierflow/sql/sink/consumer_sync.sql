-- feed.consumer mirrors the demand list's consumers (the pull views read clearances there).
insert into feed.consumer (consumer_id, kind, division_code, clearance)
values (:id, :kind, :code, :clearance)
on conflict (consumer_id) do update
    set kind = excluded.kind,
        division_code = excluded.division_code,
        clearance = excluded.clearance
