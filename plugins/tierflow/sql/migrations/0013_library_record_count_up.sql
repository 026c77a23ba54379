-- Each library table's record count, kept by the merge (tierflow.merge.record_count).
create table library.record_count (
    table_name text primary key,
    records bigint not null check (records >= 0)
);
