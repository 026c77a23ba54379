-- The latest pool row per golden key of one source, for the touched keys only: latest
-- updated_at first, then the latest delivery, then the last row of the delivery (two rows of
-- one delivery can map to one golden key, e.g. two death events of a person). Rows of
-- deliveries after :high are left for the next merge, matching the watermark recorded.
with source_rows as (
    select
        {key_select},
        {value_select},
        src.{updated_at} as _updated_at,
        src._delivery_id as _delivery_id,
        src._row_number as _row_number
    from {pool_table} as src
    join {touched} as touched on {key_join}
    where src._delivery_id <= :high{row_filter}
),

latest as (
    select distinct on ({key_columns}) *
    from source_rows
    order by {key_columns}, _updated_at desc nulls last, _delivery_id desc, _row_number desc
),

final as (
    select * from latest
)

select * from final
