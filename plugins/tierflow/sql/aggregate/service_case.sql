-- Service cases: count, completed, median hours to completion, rating sum/count and mean,
-- rolled up the tiers. Median and mean are computed from the rows at every tier (they do
-- not add up); the additive measures do, and the mean is rating_sum / rated.
with cases as (
    select
        rpad(s.division_code, 12, '0') as village,
        extract(epoch from (s.completed_at - s.accepted_at)) / 3600.0 as hours,
        s.rating
    from thematic.service_case as s
    where s.division_code is not null
),

rolled as (
    select
        left(village, 6) as district, left(village, 9) as township, village,
        grouping(left(village, 6), left(village, 9), village) as level,
        count(*)::double precision as cases,
        count(hours)::double precision as completed,
        percentile_cont(0.5) within group (order by hours) as median_hours,
        coalesce(sum(rating), 0)::double precision as rating_sum,
        count(rating)::double precision as rated,
        avg(rating)::double precision as mean_rating
    from cases
    group by rollup (left(village, 6), left(village, 9), village)
),

final as (
    select
        cast(:run_id as text) as run_id,
        'service_case' as subject,
        case level when 0 then 'village' when 1 then 'township' when 3 then 'district' else 'city' end as tier,
        coalesce(village, township, district, cast(:city as text)) as division_code,
        case level when 0 then township when 1 then district when 3 then cast(:city as text) end as parent_code,
        '' as dimension,
        m.measure,
        m.value
    from rolled
    cross join lateral (
        values ('cases', cases), ('completed', completed), ('median_hours', median_hours),
               ('rating_sum', rating_sum), ('rated', rated), ('mean_rating', mean_rating)
    ) as m (measure, value)
    where m.value is not null
)

select * from final
