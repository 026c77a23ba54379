-- The touched keys survivorship must recompute: those where, for some source, the newest row
-- of the new deliveries (low, high] differs from the newest row the last merge took (<= low),
-- compared by the change hash ingest stored per pool row (tierflow.ingest.change_hash). A key
-- whose every source kept its newest row's hash has the same survivorship inputs as when its
-- golden record was made, so the record cannot change: it is left out here, before
-- source_latest.sql and golden.sql. "Newest" is source_latest.sql's order (updated_at, then
-- delivery, then row). A source without new rows for a key changes nothing for it; a NULL
-- hash (rows ingested before migration 0012) or no merged row counts as changed. Not used by
-- merge --full, which recomputes every key. source_changes holds one block of CTEs per source
-- (changed_keys_source.sql), changed_keys unions their changed_<i>.
with {source_changes},

changed_keys as (
    {changed_keys}
),

final as (
    select distinct * from changed_keys
)

select * from final
