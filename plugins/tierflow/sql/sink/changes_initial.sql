-- A district's first feed of one source: every record in the district as it stood at the
-- window's end, all as inserts. Placeholders are quoted identifiers; values are bound.
with opened as (
    select h.*, true as in_scope_now
    from {source} as h
    where {scope_now}
      and h.{version_time} > :watermark_from
      and h.{version_time} <= :watermark_to
      and {still_current}
),

final as (
    select
        'insert' as op,
        (extract(epoch from c.{version_time}) * 1000000)::bigint as changed_at,
        {columns}
    from opened as c
)

select * from final order by {order_by}
