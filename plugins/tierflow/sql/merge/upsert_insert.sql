-- Write the golden records whose hash changed, step 1 of 3: insert the new keys.
-- The three steps (this, history_close, upsert_update) run in this order in the merge's
-- transaction; each reports its rows by its command's row count, so no row comes back to the
-- client (on Citus, a RETURNING in a data-modifying CTE ships one row per record through the
-- coordinator). The library row IS a record's current version (valid from its changed_at);
-- the history holds only closed versions, so a new record is this insert alone and a changed
-- one is two writes (its old row closed into the history, then updated in place, HOT). A
-- record whose hash is unchanged is not touched, so a no-op merge writes nothing. The golden
-- step knows which keys exist (the merge holds the library's lock), so new keys are a plain
-- insert and changed ones a plain update: no speculative insertion. When the key indexes
-- outgrow shared buffers, new rows are written in key order ({write_order}): the indexes then
-- grow at their right edge instead of reading and dirtying a random page per row (at 10M new
-- keys this step took 180 s in hash order, 110 s in key order; at 1M the sort costs more than
-- it saves).
insert into {library_table} ({key_columns}, {field_columns}, provenance, row_hash, created_at, changed_at)
select {key_columns}, {field_columns}, provenance, row_hash, now(), now()
from {golden} as golden
where not golden._exists
{write_order}
