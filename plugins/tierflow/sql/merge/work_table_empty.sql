-- A merge work table with its query's columns and no rows (on Citus: distributed next, then
-- filled by work_table_fill.sql, so its rows go straight to the shards).
create unlogged table {table} as
{query}
with no data
