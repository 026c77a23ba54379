-- The bytes of the library table's and its history's indexes, and of shared buffers: whether
-- the indexes still fit decides how the merge orders its writes.
with final as (
    select
        pg_indexes_size(cast(:library as regclass))
        + pg_indexes_size(cast(:history as regclass)) as index_bytes,
        pg_size_bytes(current_setting('shared_buffers')) as buffer_bytes
)

select * from final
