-- Heavy trucks: vehicle-days per district (distinct plate and Asia/Shanghai day among the
-- points geofenced into it). The city's vehicle_days is the sum of its districts' (a truck
-- seen in two districts on one day counts in both); distinct_vehicle_days counts it once.
with points as (
    select
        g.district_code,
        g.plate_number,
        (g.recorded_at at time zone 'Asia/Shanghai')::date as day
    from thematic.truck_gps as g
    where g.district_code <> ''
),

per_district as (
    select district_code, count(distinct (plate_number, day))::double precision as vehicle_days
    from points
    group by district_code
),

city as (
    select
        coalesce(sum(vehicle_days), 0)::double precision as vehicle_days,
        (select count(distinct (plate_number, day)) from points)::double precision as distinct_vehicle_days
    from per_district
),

final as (
    select cast(:run_id as text) as run_id, 'truck_gps' as subject, 'district' as tier,
           district_code as division_code, cast(:city as text) as parent_code, '' as dimension,
           'vehicle_days' as measure, vehicle_days as value
    from per_district
    union all
    select cast(:run_id as text), 'truck_gps', 'city', cast(:city as text), null, '', m.measure, m.value
    from city
    cross join lateral (
        values ('vehicle_days', city.vehicle_days), ('distinct_vehicle_days', city.distinct_vehicle_days)
    ) as m (measure, value)
)

select * from final
