-- A work table in key order: the outer side of a nested loop of key index lookups.
(select * from {table} order by {key_columns})
