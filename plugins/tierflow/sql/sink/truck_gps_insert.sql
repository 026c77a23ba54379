-- Geofenced points from the staging table into the day partitions; a point already loaded
-- (same plate and time, e.g. a repeated delivery) is kept as it was.
with staged as (
    select
        s."plate_number",
        timestamptz 'epoch' + s.recorded_us * interval '1 microsecond' as recorded_at,
        s."longitude", s."latitude", s."speed_kmh", s."heading", s."district_code", s.delivery_id
    from {stage} as s
),

inserted as (
    insert into thematic.truck_gps ("plate_number", "recorded_at", "longitude", "latitude",
        "speed_kmh", "heading", "district_code", delivery_id, loaded_at)
    select "plate_number", recorded_at, "longitude", "latitude", "speed_kmh", "heading",
        "district_code", delivery_id, now()
    from staged
    on conflict ("plate_number", "recorded_at") do nothing
    returning 1
),

final as (
    select count(*) as inserted from inserted
)

select * from final
