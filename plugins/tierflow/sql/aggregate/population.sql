-- Alive persons by gender and age band, rolled up village → township → district → city.
-- A division code shorter than 12 digits is padded, so it counts in a placeholder village
-- of its parent and every tier stays the sum of its children.
with alive as (
    select
        rpad(p.division_code, 12, '0') as village,
        coalesce(p.gender, '?') as gender,
        extract(year from age(cast(:as_of as date), p.birth_date))::int as age
    from library.person as p
    where p.status is distinct from 'deceased'
      and p.death_date is null
      and p.division_code is not null
      and p.birth_date <= cast(:as_of as date)
),

banded as (
    select
        village,
        gender || ':' || case when age >= 80 then '80+'
                              else (age / 10 * 10)::text || '-' || (age / 10 * 10 + 9)::text end as dimension
    from alive
),

rolled as (
    select
        left(village, 6) as district, left(village, 9) as township, village, dimension,
        grouping(left(village, 6), left(village, 9), village) as level,
        count(*)::double precision as persons
    from banded
    group by dimension, rollup (left(village, 6), left(village, 9), village)
),

final as (
    select
        cast(:run_id as text) as run_id,
        'population' as subject,
        case level when 0 then 'village' when 1 then 'township' when 3 then 'district' else 'city' end as tier,
        coalesce(village, township, district, cast(:city as text)) as division_code,
        case level when 0 then township when 1 then district when 3 then cast(:city as text) end as parent_code,
        dimension,
        'persons' as measure,
        persons as value
    from rolled
)

select * from final
