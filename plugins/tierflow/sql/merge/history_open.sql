-- Write the golden records whose hash changed, step 4 of 4 (see upsert_insert.sql): open the
-- new version of each new or changed record at the merge time (type-2 history).
insert into {history_table} ({key_columns}, {field_columns}, provenance, row_hash, created_at, changed_at, valid_from, valid_to)
select {key_columns}, {field_columns}, provenance, row_hash, coalesce(_current_created_at, now()), now(), now(), null
from {golden} as golden
where golden._current_hash is distinct from golden.row_hash
{write_order}
