-- Write the golden records whose hash changed, step 3 of 4 (see upsert_insert.sql): close the
-- open version of each changed record (before step 4 opens the new one).
update {history_table} as hist
set valid_to = now()
from {golden} as golden
where {history_join} and hist.valid_to is null
  and golden._exists and golden._current_hash is distinct from golden.row_hash
