-- A thematic table with type-2 history, for a thematic dataset no migration created
-- (tierflow.tables: columns and types from its contract). The layout is the one migration
-- 0003 gave thematic.service_case: the delivery a record came from, its hash, its history.
create table thematic.{table} (
    {columns},
    delivery_id bigint not null,
    row_hash    text not null,
    created_at  timestamptz not null default now(),
    changed_at  timestamptz not null default now(),
    primary key ({key})
);
create table thematic.{history} (like thematic.{table} excluding constraints);
alter table thematic.{history} add column valid_from timestamptz not null, add column valid_to timestamptz;
create index {history_key} on thematic.{history} ({key}, valid_from);
create index {history_opened} on thematic.{history} (valid_from);
