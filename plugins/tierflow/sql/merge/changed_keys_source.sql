-- Block of CTEs of changed_keys.sql for source {i}: each touched key's rows in that source (key
-- columns renamed to the golden key, the source's row filter applied), the newest row of the
-- new deliveries and the newest merged row ranked apart, and the keys where they differ.
source_rows_{i} as (
    select
        {key_select},
        src._change_hash,
        src.{updated_at} as _updated_at,
        src._delivery_id,
        src._row_number,
        src._delivery_id > :low_{i} as _new
    from {pool_table} as src
    join {touched} as touched on {key_join}
    where src._delivery_id <= :high_{i}{row_filter}
),

ranked_{i} as (
    select
        source_rows_{i}.*,
        row_number() over (
            partition by {key_columns}, _new
            order by _updated_at desc nulls last, _delivery_id desc, _row_number desc
        ) as _rank
    from source_rows_{i}
),

changed_{i} as (
    select {key_columns}
    from ranked_{i}
    where _rank = 1
    group by {key_columns}
    having bool_or(_new) and not coalesce(
        min(_change_hash) filter (where _new) = min(_change_hash) filter (where not _new), false
    )
)
