-- Loaded deliveries whose GX report is still to be written, oldest first (optionally of one
-- dataset, optionally among some ids).
with pending as (
    select delivery_id
    from quality.delivery
    where gx_status = 'pending'
      and status = 'loaded'
      and (cast(:dataset as text) is null or dataset = cast(:dataset as text))
      and (cast(:ids as bigint[]) is null or delivery_id = any(cast(:ids as bigint[])))
),

final as (
    select delivery_id from pending
)

select * from final
order by delivery_id
