-- Fragment of conflicts.sql: one candidate of a field that lost to a different non-empty winner.
select {key_text} as key, cast(:field_{j} as text) as field, {kept} as kept_value, {kept_source} as kept_source, {other} as other_value, cast(:src_{i}_dataset as text) as other_source from {golden} as golden where {kept} is not null and btrim({other}) <> '' and {other} <> {kept}
