-- Write the golden records whose hash changed, step 2 of 3 (see upsert_insert.sql): the
-- current version of each changed record (its library row, as it stands before step 3) goes
-- into the history as a closed version: valid from its changed_at to the merge time, the time
-- step 3 gives the new version. {current_table} is the library, or the touched keys' library
-- rows the merge looked up by index before the golden step (the same rows: step 1 only adds
-- new keys), so a few changed keys do not cost a join with the whole library.
insert into {history_table} ({key_columns}, {field_columns}, provenance, row_hash, created_at, changed_at, valid_from, valid_to)
select {lib_key_columns}, {lib_field_columns}, lib.provenance, lib.row_hash, lib.created_at, lib.changed_at, lib.changed_at, now()
from {current_table} as lib
inner join {golden} as golden on {library_join}
where golden._exists and golden._current_hash is distinct from golden.row_hash
{history_order}
