-- Record that a dataset's deliveries up to :high are merged into the library (same transaction).
with advanced as (
    insert into library.merge_watermark (library, dataset, last_delivery_id, merged_at)
    values (:library, :dataset, :high, now())
    on conflict (library, dataset) do update
        set last_delivery_id = excluded.last_delivery_id, merged_at = excluded.merged_at
        where library.merge_watermark.last_delivery_id < excluded.last_delivery_id
    returning 1
),

final as (
    select count(*) as advanced from advanced
)

select * from final
