-- Log field-level disagreements between sources of the touched keys: a non-empty candidate
-- that lost to a different non-empty winner. The unique index conflict_once makes a re-run
-- (or a later merge seeing the same pair again) log nothing new. The golden records are
-- read once, each unfolded into one row per candidate of a multi-source field.
with records as (
    select * from {golden} as golden
    {only_multi_source}
),

disagreements as (
    select candidate.*
    from records as golden
    cross join lateral (
        values {candidate_rows}
    ) as candidate (key, field, kept_value, kept_source, other_value, other_source)
    where candidate.kept_value is not null
      and btrim(candidate.other_value) <> ''
      and candidate.other_value <> candidate.kept_value
),

logged as (
    insert into quality.conflict (library, key, field, kept_value, kept_source, other_value, other_source)
    select :library, key, field, kept_value, kept_source, other_value, other_source
    from disagreements
    on conflict do nothing
    returning 1
),

final as (
    select (select count(*) from disagreements) as disagreements, (select count(*) from logged) as logged
)

select * from final
