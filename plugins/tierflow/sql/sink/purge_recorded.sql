-- The purge notices already recorded for a run: a re-run publishes the same ones.
with recorded as (
    select consumer_id, feed_name, watermark_from, watermark_to, demand_ids, key_treatment,
        purge_reason, planned_at
    from feed.run
    where run_id = :r and kind = 'purge' and consumer_id = any(:cs)
),

final as (
    select * from recorded
)

select * from final
