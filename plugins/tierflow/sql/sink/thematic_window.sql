-- Deliveries of a dataset not loaded into its thematic table yet: ids in (low, high].
with taken as (
    select last_delivery_id
    from thematic.load_watermark
    where dataset = :dataset
),

loaded as (
    select max(delivery_id) as last_loaded_id
    from quality.delivery
    where status = 'loaded' and dataset = :dataset
),

final as (
    select
        coalesce((select last_delivery_id from taken), 0) as low,
        greatest(
            coalesce((select last_delivery_id from taken), 0),
            coalesce((select last_loaded_id from loaded), 0)
        ) as high
)

select * from final
