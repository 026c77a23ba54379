-- Fragment of conflicts.sql: one candidate of a field, as a row of the per-record VALUES list.
({key_text}, cast(:field_{j} as text), {kept}, {kept_source}, {other}, cast(:src_{i}_dataset as text))
