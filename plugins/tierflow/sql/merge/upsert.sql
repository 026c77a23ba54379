-- Write the golden records whose hash changed: insert new keys, update changed ones, and
-- keep type-2 history (close the open version, open a new one at the merge time). A record
-- whose hash is unchanged is not touched at all, so a no-op merge writes nothing.
-- The golden step knows which keys exist (the merge holds the library's lock), so new keys
-- are a plain insert and changed ones a plain update: no speculative insertion, and no
-- RETURNING of whole records kept in memory to feed the history. When the key indexes outgrow
-- shared buffers, new rows are written in key order ({write_order}): the indexes then grow at
-- their right edge instead of reading and dirtying a random page per row (at 10M new keys this
-- step took 180 s in hash order, 110 s in key order; at 1M the sort costs more than it saves).
with inserted as (
    insert into {library_table} ({key_columns}, {field_columns}, provenance, row_hash, created_at, changed_at)
    select {key_columns}, {field_columns}, provenance, row_hash, now(), now()
    from {golden} as golden
    where not golden._exists
    {write_order}
    returning 1
),

updated as (
    update {library_table} as lib
    set {update_assignments},
        provenance = golden.provenance,
        row_hash = golden.row_hash,
        changed_at = now()
    from {golden} as golden
    where {library_join}
      and golden._exists and golden._current_hash is distinct from golden.row_hash
    returning 1
),

closed as (
    update {history_table} as hist
    set valid_to = now()
    from {golden} as golden
    where {history_join} and hist.valid_to is null
      and golden._exists and golden._current_hash is distinct from golden.row_hash
    returning 1
),

opened as (
    insert into {history_table} ({key_columns}, {field_columns}, provenance, row_hash, created_at, changed_at, valid_from, valid_to)
    select {key_columns}, {field_columns}, provenance, row_hash, coalesce(_current_created_at, now()), now(), now(), null
    from {golden} as golden
    where golden._current_hash is distinct from golden.row_hash
    {write_order}
    returning 1
),

final as (
    select
        (select count(*) from inserted) as inserted,
        (select count(*) from updated) as updated,
        (select count(*) from closed) as history_closed,
        (select count(*) from opened) as history_opened
)

select * from final
