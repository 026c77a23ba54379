delete from thematic.tier_aggregate
where run_id = :r
