-- A dataset's resource pool, from its contract: partitioned by delivery (one partition each,
-- see delivery_partition_create.sql) except in the pre-0005 layout. No unique constraint:
-- ingest de-duplicates each delivery itself. The columns end with _change_hash (tierflow.pool).
create table if not exists {pool} (
    _delivery_id bigint not null,
    _row_number bigint not null,
    {columns}
){partitioning}
