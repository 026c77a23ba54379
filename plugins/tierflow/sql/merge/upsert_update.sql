-- Write the golden records whose hash changed, step 3 of 3 (see upsert_insert.sql): update the
-- records of existing keys whose golden fields changed (step 2 kept their old rows). No index
-- covers a column this changes, so the new version stays on its page (HOT, fillfactor 80).
update {library_table} as lib
set {update_assignments},
    provenance = golden.provenance,
    row_hash = golden.row_hash,
    changed_at = now()
from {golden_for_update} as golden
where {library_join}
  and golden._exists and golden._current_hash is distinct from golden.row_hash
