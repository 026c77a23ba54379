-- The windows already recorded for a run: a re-run reads the same rows.
with planned as (
    select consumer_id, feed_name, watermark_from, watermark_to
    from feed.run
    where run_id = :r and consumer_id = any(:cs)
),

final as (
    select consumer_id, feed_name, watermark_from, watermark_to from planned
)

select * from final
