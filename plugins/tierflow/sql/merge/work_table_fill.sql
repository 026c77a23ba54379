-- A distributed merge work table filled by its query: colocated with the library table and
-- the pools it reads, the statement runs as one task per shard on the workers.
insert into {table}
{query}
