-- A sample of the touched keys, about {keys} of them, on which the merge measures whether the
-- change-hash check pays (merge.run._hash_check_pays): the keys whose hash falls in the lowest
-- {below} of 2^20 buckets. A predicate, not a limit: on Citus it runs on every shard where
-- the keys are, instead of pulling rows through the coordinator.
with probe as (
    select *
    from {touched}
    where (hashtext(concat_ws('|', {key_columns})) & 1048575) < {below}
),

final as (
    select * from probe
)

select * from final
