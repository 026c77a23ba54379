-- The negative list with its legal bases, who added each entry, and a pending removal (which
-- takes a second person's approval to lift the entry), by dataset and field.
with pending as (
    select distinct on (dataset, coalesce(field, ''))
        dataset,
        field,
        requested_by as removal_requested_by,
        requested_at as removal_requested_at,
        reason as removal_reason
    from sharing.negative_removal
    where status = 'pending'
    order by dataset, coalesce(field, ''), request_id
),

final as (
    select
        n.dataset,
        n.field,
        n.legal_basis,
        n.added_by,
        n.added_at,
        p.removal_requested_by,
        p.removal_requested_at,
        p.removal_reason
    from sharing.negative_entry as n
    left join pending as p
        on p.dataset = n.dataset and coalesce(p.field, '') = coalesce(n.field, '')
)

select * from final
order by dataset, coalesce(field, '')
