-- Remember the last delivery a thematic load has taken.
insert into thematic.load_watermark (dataset, last_delivery_id, loaded_at)
values (:dataset, :high, now())
on conflict (dataset) do update
    set last_delivery_id = greatest(thematic.load_watermark.last_delivery_id, excluded.last_delivery_id),
        loaded_at = excluded.loaded_at
