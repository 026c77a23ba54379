-- Move one delivery's accepted rows from its staging table into the resource pool.
-- Within the delivery the latest {order_by} wins per key; the others are recorded as superseded.
-- Placeholders are quoted identifiers filled in by tierflow.ingest.load; values are bound.
with ranked as (
    select
        stage.*,
        row_number() over (partition by {key_columns} order by {order_by}) as version_rank
    from {stage} as stage
),

superseded as (
    insert into quality.superseded (delivery_id, row_number, key)
    select :delivery_id, _row_number, concat_ws('|', {key_columns})
    from ranked
    where version_rank > 1
    returning 1
),

published as (
    insert into {pool_table} (_delivery_id, _row_number, {columns})
    select :delivery_id, _row_number, {columns}
    from ranked
    where version_rank = 1
    returning 1
),

final as (
    select
        (select count(*) from superseded) as rows_superseded,
        (select count(*) from published) as rows_published
)

select * from final
