-- Golden records of the touched keys: the survivorship rules applied to the latest row of
-- each source, the current record kept where every candidate is empty, derived facts
-- filled where nothing else is known, provenance per field and a hash of the golden fields.
-- Each step ends in a fence ("offset 0" on one server) so that PostgreSQL computes its
-- columns once per key instead of copying their expressions into every later use (a winner is
-- used by its golden value, its provenance and the hash): that fence halves the cost of this
-- statement. On Citus the fence is left out: a subquery with an offset cannot be pushed down
-- to the shards, and the coordinator would pull every candidate row to compute it itself.
-- The work tables it reads and the one it fills are created by the merge (merge.work).
with candidates as (
    select
        {touched_key_select},
        {candidate_select},
        ({creator_present}) as _creatable,
        current_record.{first_key} is not null as _exists,
        current_record.row_hash as _current_hash,
        current_record.provenance as _current_provenance,
        current_record.created_at as _current_created_at
    from {touched} as touched
    {source_joins}
    left join {library_table} as current_record on {current_join}
),

winners as (
    select
        candidates.*,
        {winner_select}
    from candidates
    where _creatable or _exists
    {fence}
),

golden as (
    select
        {key_columns},
        {golden_select},
        _creatable,
        _exists,
        _current_hash,
        _current_created_at,
        {conflict_select}
    from winners
    {fence}
),

hashed as (
    select golden.*, md5(row({hashed_fields})::text) as row_hash
    from golden
    {fence}
),

final as (
    -- Provenance maps each field to the delivery id it came from (or how it was kept or
    -- derived). It is built only for records whose hash changed (the only ones written), as
    -- JSON text parsed once: jsonb_build_object of nested objects cost three times as much
    -- and made rows four times wider. Fields without provenance are left out.
    select
        {key_columns},
        {field_columns},
        case when _current_hash is distinct from row_hash then
            cast('{{' || concat_ws(',', {provenance_pairs}) || '}}' as jsonb)
        end as provenance,
        _creatable,
        _exists,
        _current_hash,
        _current_created_at,
        {conflict_columns},
        row_hash
    from hashed
)

select * from final
