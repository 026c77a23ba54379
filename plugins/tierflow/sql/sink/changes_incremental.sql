-- A district's changes of one source in a watermark window (from type-2 history): the
-- state at the window's end of every record opened in it that is in the district, and a
-- delete (key only) for every record that was in the district at the window's start and
-- is no longer. Placeholders are quoted identifiers; values are bound.
with opened_in_district as (
    select h.*, true as in_scope_now
    from {source} as h
    where {scope_now}
      and h.{version_time} > :watermark_from
      and h.{version_time} <= :watermark_to
      and {still_current}
),

opened_elsewhere as (
    select h.*, false as in_scope_now
    from {source} as h
    where not coalesce({scope_now}, false)
      and h.{version_time} > :watermark_from
      and h.{version_time} <= :watermark_to
      and {still_current}
),

changed as (
    select * from opened_in_district
    union all
    select * from opened_elsewhere
),

with_before as (
    select c.*, coalesce(before.in_scope, false) as in_scope_before
    from changed as c
    left join lateral (
        select {scope_before} as in_scope
        from {source} as p
        where {key_join}
          and p.{version_time} <= :watermark_from
        order by p.{version_time} desc
        limit 1
    ) as before on true
),

final as (
    select
        case
            when c.in_scope_now and c.in_scope_before then 'update'
            when c.in_scope_now then 'insert'
            else 'delete'
        end as op,
        (extract(epoch from c.{version_time}) * 1000000)::bigint as changed_at,
        {columns}
    from with_before as c
    where c.in_scope_now or c.in_scope_before
)

select * from final order by {order_by}
