-- The hash distribution column of a table (none when it is not hash-distributed).
with partition as (
    select column_to_column_name(logicalrelid, partkey) as column_name
    from pg_dist_partition
    where logicalrelid = cast(:t as regclass) and partmethod = 'h'
),

final as (
    select column_name
    from partition
)

select * from final
