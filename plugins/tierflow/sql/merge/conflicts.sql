-- Log field-level disagreements between sources of the touched keys: a non-empty candidate
-- that lost to a different non-empty winner. The unique index conflict_once makes a re-run
-- (or a later merge seeing the same pair again) log nothing new.
with disagreements as (
    {disagreements}
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
