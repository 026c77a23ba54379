-- The district polygons the geospatial library holds (WKT), to geofence points into.
with boundaries as (
    select division_code, geometry_wkt
    from library.district_boundary
),

final as (
    select division_code, geometry_wkt from boundaries
)

select * from final
order by division_code
