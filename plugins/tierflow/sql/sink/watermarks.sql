-- Where each consumer's feeds stand: the end of the last run it acknowledged.
with acked as (
    select consumer_id, feed_name, acked_watermark
    from feed.watermark
    where consumer_id = any(:cs)
),

final as (
    select consumer_id, feed_name, acked_watermark from acked
)

select * from final
