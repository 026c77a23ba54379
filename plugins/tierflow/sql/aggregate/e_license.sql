-- E-licenses by licence type and status, rolled up the tiers.
with licences as (
    select
        rpad(l.division_code, 12, '0') as village,
        l.license_type_code || ':' || coalesce(l.status, '?') as dimension
    from library.e_license as l
    where l.division_code is not null
),

rolled as (
    select
        left(village, 6) as district, left(village, 9) as township, village, dimension,
        grouping(left(village, 6), left(village, 9), village) as level,
        count(*)::double precision as licenses
    from licences
    group by dimension, rollup (left(village, 6), left(village, 9), village)
),

final as (
    select
        cast(:run_id as text) as run_id,
        'e_license' as subject,
        case level when 0 then 'village' when 1 then 'township' when 3 then 'district' else 'city' end as tier,
        coalesce(village, township, district, cast(:city as text)) as division_code,
        case level when 0 then township when 1 then district when 3 then cast(:city as text) end as parent_code,
        dimension,
        'licenses' as measure,
        licenses as value
    from rolled
)

select * from final
