-- Write the golden records whose hash changed: insert new keys, update changed ones, and
-- keep type-2 history (close the open version, open a new one at the merge time). A record
-- whose hash is unchanged is not touched at all, so a no-op merge writes nothing.
with changed as (
    select *
    from {golden}
    where _current_hash is distinct from row_hash
),

upserted as (
    insert into {library_table} as lib ({key_columns}, {field_columns}, provenance, row_hash, created_at, changed_at)
    select {key_columns}, {field_columns}, provenance, row_hash, now(), now()
    from changed
    on conflict ({key_columns}) do update
        set {update_assignments},
            provenance = excluded.provenance,
            row_hash = excluded.row_hash,
            changed_at = excluded.changed_at
        where lib.row_hash is distinct from excluded.row_hash
    returning lib.*, (lib.xmax = 0) as _inserted
),

closed as (
    update {history_table} as hist
    set valid_to = now()
    from upserted
    where {history_join} and hist.valid_to is null
    returning 1
),

opened as (
    insert into {history_table} ({key_columns}, {field_columns}, provenance, row_hash, created_at, changed_at, valid_from, valid_to)
    select {key_columns}, {field_columns}, provenance, row_hash, created_at, changed_at, now(), null
    from upserted
    returning 1
),

final as (
    select
        (select count(*) from upserted where _inserted) as inserted,
        (select count(*) from upserted where not _inserted) as updated,
        (select count(*) from closed) as history_closed,
        (select count(*) from opened) as history_opened
)

select * from final
