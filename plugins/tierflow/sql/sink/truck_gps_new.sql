-- New GPS points of deliveries in (low, high], for geofencing in Arrow.
with delivered as (
    select
        g."plate_number",
        (extract(epoch from g."recorded_at") * 1000000)::bigint as recorded_us,
        g."longitude",
        g."latitude",
        g."speed_kmh",
        g."heading",
        g."_delivery_id" as delivery_id
    from pool."trans_truck_gps" as g
    where g."_delivery_id" > :low and g."_delivery_id" <= :high
),

final as (
    select * from delivered
)

select * from final
