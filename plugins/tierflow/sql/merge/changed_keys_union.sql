-- Fragment of changed_keys.sql: the changed keys of source {i} (changed_keys_source.sql).
select * from changed_{i}
