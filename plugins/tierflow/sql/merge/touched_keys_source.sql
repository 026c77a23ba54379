-- Fragment of touched_keys.sql: the keys of one source's new rows, renamed to the golden key.
select {key_select} from {pool_table} as src where src._delivery_id > :low_{i} and src._delivery_id <= :high_{i}{row_filter}
