-- Golden records of the touched keys: the survivorship rules applied to the latest row of
-- each source, the current record kept where every candidate is empty, derived facts
-- filled where nothing else is known, provenance per field and a hash of the golden fields.
create temp table {golden} on commit drop as
with candidates as (
    select
        {touched_key_select},
        {candidate_select},
        ({creator_present}) as _creatable,
        current_record.{first_key} is not null as _exists,
        current_record.row_hash as _current_hash,
        current_record.provenance as _current_provenance
    from {touched} as touched
    {source_joins}
    left join {library_table} as current_record on {current_join}
),

winners as (
    select
        candidates.*,
        {winner_select}
    from candidates
    {winner_joins}
),

golden as (
    select
        {key_columns},
        {golden_select},
        jsonb_strip_nulls(jsonb_build_object({provenance_pairs})) as provenance,
        _creatable,
        _exists,
        _current_hash,
        {conflict_select}
    from winners
),

final as (
    select golden.*, md5(row({hashed_fields})::text) as row_hash
    from golden
    where _creatable or _exists
)

select * from final
