-- A library table and its type-2 history, for a library no migration created (tierflow.tables:
-- columns from the survivorship rules, types from the contracts). The layout is the one the
-- migrations gave the libraries of design §9: 0001 (tables, history, key index), 0003 (the
-- feeds' indexes, row-level security), 0009 (a fifth of each page left free so updates stay HOT).
create table library.{table} (
    {columns},
    provenance jsonb not null default '{{}}',
    row_hash   text not null,
    created_at timestamptz not null default now(),
    changed_at timestamptz not null default now(),
    primary key ({key})
) with (fillfactor = 80);
create table library.{history} (like library.{table} excluding constraints);
alter table library.{history} add column valid_from timestamptz not null, add column valid_to timestamptz;
alter table library.{history} set (fillfactor = 80);
create index on library.{history} ({key}, valid_from);
create index {history_opened} on library.{history} (valid_from);
