-- Every demand of the online lists with its consumer, who asked, who decided and why, in the
-- order the console lists them (pending first: they wait for someone). ``days_left`` counts
-- an approval's remaining valid days from :today (the platform's day, tierflow.clock), its
-- last day included; ``expiring`` marks approvals whose last day is within :within days.
-- The daily expiry ends an approval once its last day is before today (sharing.store).
with demands as (
    select
        d.demand_id,
        d.consumer_id,
        c.name as consumer_name,
        c.kind as consumer_kind,
        c.division_code,
        d.dataset,
        d.fields,
        d.pseudonymise,
        d.purpose,
        d.status,
        d.valid_days,
        d.approved_on,
        d.expires_on,
        d.requested_by,
        d.requested_at,
        d.decided_by,
        d.decided_at,
        d.reason
    from sharing.demand as d
    join sharing.consumer as c using (consumer_id)
),

final as (
    select
        *,
        case
            when status = 'approved' and expires_on is not null
                then expires_on - cast(:today as date) + 1
        end as days_left,
        coalesce(
            status = 'approved'
            and expires_on >= cast(:today as date)
            and expires_on < cast(:today as date) + cast(:within as int),
            false
        ) as expiring
    from demands
)

select * from final
order by
    array_position(array['pending', 'approved', 'expired', 'revoked', 'rejected'], status),
    demand_id
