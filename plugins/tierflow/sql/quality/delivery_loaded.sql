-- A load finished: its counts and verdict, in the transaction that put its rows in the pool
-- (the table's rows_balance check holds rows_in = rows_accepted + rows_quarantined); its GX
-- report, when asked for, is pending until the step after the load writes it.
with finished as (
    update quality.delivery
    set
        status = 'loaded',
        rows_in = :rows_in,
        rows_accepted = :accepted,
        rows_quarantined = :quarantined,
        rows_superseded = :superseded,
        rows_warned = :warned,
        rows_normalised = :normalised,
        extra_columns = cast(:extra as jsonb),
        suite_success = :suite_success,
        gx_status = case when :gx_pending then 'pending' end,
        quarantine_path = :quarantine_path,
        finished_at = now()
    where delivery_id = :delivery_id
    returning *
),

final as (
    select * from finished
)

select * from final
