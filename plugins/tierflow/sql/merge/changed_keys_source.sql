-- Block of CTEs of changed_keys.sql for source {i}: each touched key's rows in that source (key
-- columns renamed to the golden key, the source's row filter applied), then per key the newest
-- row of the new deliveries and the newest merged row, and the keys where their hashes differ.
-- "Newest" as source_latest.sql orders: updated_at (nulls last), delivery, row; here as the
-- maximum of an array [updated_at in microseconds or the smallest bigint, delivery, row, hash]
-- (delivery and row never tie, so the hash never decides): one hash aggregate per key, where
-- ranking the rows by a window needed a sort of every row by the text key's collation (2.3 s
-- of 6.3 s for 400k keys into 2M).
source_rows_{i} as (
    select
        {key_select},
        array[
            coalesce(
                cast(extract(epoch from src.{updated_at}) * 1000000 as bigint),
                -9223372036854775808
            ),
            src._delivery_id,
            src._row_number,
            src._change_hash
        ] as _order_hash,
        src._delivery_id > :low_{i} as _new
    from {pool_table} as src
    join {touched} as touched on {key_join}
    where src._delivery_id <= :high_{i}{row_filter}
),

newest_{i} as (
    select
        {key_columns},
        max(_order_hash) filter (where _new) as _newest,
        max(_order_hash) filter (where not _new) as _merged
    from source_rows_{i}
    group by {key_columns}
),

changed_{i} as (
    select {key_columns}
    from newest_{i}
    where _newest is not null and not coalesce(_newest[4] = _merged[4], false)
)
