-- Per dataset feeding a library: the last delivery merged (low) and the last loaded (high).
-- The merge takes deliveries in (low, high]; a delivery loaded later waits for the next run.
with feeding as (
    select unnest(cast(:datasets as text[])) as dataset
),

merged as (
    select dataset, last_delivery_id
    from library.merge_watermark
    where library = :library
),

loaded as (
    select dataset, max(delivery_id) as last_loaded_id
    from quality.delivery
    where status = 'loaded' and dataset = any(cast(:datasets as text[]))
    group by dataset
),

final as (
    select
        feeding.dataset,
        coalesce(merged.last_delivery_id, 0) as low,
        greatest(coalesce(merged.last_delivery_id, 0), coalesce(loaded.last_loaded_id, 0)) as high
    from feeding
    left join merged using (dataset)
    left join loaded using (dataset)
)

select * from final
