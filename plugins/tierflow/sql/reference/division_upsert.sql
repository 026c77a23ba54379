insert into ref.division (code, name, tier, parent_code, is_pilot, functional_zone, source)
values (:code, :name, :tier, :parent_code, :is_pilot, :functional_zone, :source)
on conflict (code) do update
set
    name = excluded.name,
    tier = excluded.tier,
    parent_code = excluded.parent_code,
    is_pilot = excluded.is_pilot,
    functional_zone = excluded.functional_zone,
    source = excluded.source
