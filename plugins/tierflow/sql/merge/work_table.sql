-- A merge work table made and filled by its query in one statement (one server: the query can
-- run in parallel workers, which an INSERT ... SELECT cannot).
create unlogged table {table} as
{query}
