-- New deliveries of a thematic dataset into its table with type-2 history, like the library
-- merges: the latest row per key wins, an unchanged record is not touched. The columns, key
-- and tables are filled in from the dataset's contract (tierflow.sink.thematic.upsert_sql).
with delivered as (
    select distinct on ({source_key})
        {source_columns},
        s."_delivery_id" as delivery_id
    from {pool} as s
    where s."_delivery_id" > :low and s."_delivery_id" <= :high
    order by {source_key}, s."_delivery_id" desc, s."_row_number" desc
),

hashed as (
    select d.*,
        md5(concat_ws('|', {hashed_values})) as row_hash
    from delivered as d
),

upserted as (
    insert into {table} as t ({columns}, delivery_id, row_hash, created_at, changed_at)
    select {columns}, delivery_id, row_hash, now(), now()
    from hashed
    on conflict ({key}) do update
        set {updates}, delivery_id = excluded.delivery_id,
            row_hash = excluded.row_hash, changed_at = excluded.changed_at
        where t.row_hash is distinct from excluded.row_hash
    returning t.*, (t.xmax = 0) as inserted
),

closed as (
    update {history} as h
    set valid_to = now()
    from upserted as u
    where {key_join} and h.valid_to is null
    returning 1
),

opened as (
    insert into {history} ({columns}, delivery_id, row_hash, created_at, changed_at, valid_from, valid_to)
    select {columns}, delivery_id, row_hash, created_at, changed_at, now(), null
    from upserted
    returning 1
),

final as (
    select
        (select count(*) from upserted where inserted) as inserted,
        (select count(*) from upserted where not inserted) as updated,
        (select count(*) from opened) as history_opened,
        (select count(*) from closed) as history_closed
)

select * from final
