-- Legal entities by industry section (GB/T 4754 letter) and status, rolled up the tiers.
with entities as (
    select
        rpad(e.division_code, 12, '0') as village,
        coalesce(left(e.industry_code, 1), '?') || ':' || coalesce(e.status, '?') as dimension
    from library.legal_entity as e
    where e.division_code is not null
),

rolled as (
    select
        left(village, 6) as district, left(village, 9) as township, village, dimension,
        grouping(left(village, 6), left(village, 9), village) as level,
        count(*)::double precision as entities
    from entities
    group by dimension, rollup (left(village, 6), left(village, 9), village)
),

final as (
    select
        cast(:run_id as text) as run_id,
        'legal_entity' as subject,
        case level when 0 then 'village' when 1 then 'township' when 3 then 'district' else 'city' end as tier,
        coalesce(village, township, district, cast(:city as text)) as division_code,
        case level when 0 then township when 1 then district when 3 then cast(:city as text) end as parent_code,
        dimension,
        'entities' as measure,
        entities as value
    from rolled
)

select * from final
