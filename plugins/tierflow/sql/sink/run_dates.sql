-- The date each consumer's part of a run was first planned with (a re-run keeps it).
with planned as (
    select consumer_id, as_of
    from feed.run
    where run_id = :r and consumer_id = any(:cs)
),

final as (
    select consumer_id, min(as_of) as as_of
    from planned
    group by consumer_id
)

select * from final
