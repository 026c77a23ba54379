-- The upward report to the national platform: the city and district tiers of one run.
with report as (
    select subject, tier, division_code, parent_code, dimension, measure, value
    from thematic.tier_aggregate
    where run_id = :run_id and tier in ('city', 'district')
),

final as (
    select * from report
)

select * from final order by subject, tier, division_code collate "C", dimension collate "C", measure collate "C"
