-- Shard placements per node port (reference tables count once on every node, the coordinator too).
with nodes as (
    select groupid, nodeport
    from pg_dist_node
),

placements as (
    select groupid, count(*) as shards
    from pg_dist_placement
    group by groupid
),

final as (
    select nodes.nodeport, coalesce(placements.shards, 0) as shards
    from nodes
    left join placements on placements.groupid = nodes.groupid
)

select * from final
