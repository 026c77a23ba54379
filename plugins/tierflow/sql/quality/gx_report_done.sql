-- A delivery's GX report written (result and Data Docs): its scope and GX's verdict.
with done as (
    update quality.delivery
    set
        gx_status = 'done',
        gx_scope = :gx_scope,
        gx_success = :gx_success,
        gx_validated_at = now()
    where delivery_id = :delivery_id and status = 'loaded'
    returning delivery_id
),

final as (
    select delivery_id from done
)

select * from final
