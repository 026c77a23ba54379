-- Districts' changes of one source in their watermark windows (from type-2 history), one
-- row per district in pg_temp.sink_window (its window and its pseudonym key pads): the
-- state at the window's end of every record opened in the window that is in the district,
-- and a delete (key only) for every record that was in the district at the window's start
-- and is no longer. Rows come out in no order: the caller sorts each district by key.
-- Placeholders are quoted identifiers; the bound values repeat the window table's lowest
-- and highest bounds as constants, so the planner reads only the versions opened in them.
-- Rows name their district by its ordinal in the window table and their op by a code
-- (1 insert, 2 update, 3 delete): two bytes each in binary COPY instead of text.
-- A library feed runs this over its history and over its library rows (versions_union.sql);
-- the version before a window of either leg is in the history: a record's
-- library row changed in or after the window, so the one before it was closed.
with changed as (
    select
        w.ordinal as _sink_district,
        w.district as _sink_code,
        w.watermark_from as _sink_from,
        w.inner_pad as _sink_inner,
        w.outer_pad as _sink_outer,
        h.*,
        coalesce({scope_now}, false) as in_scope_now
    from {source} as h
    inner join pg_temp.sink_window as w
        on h.{version_time} > w.watermark_from
        and h.{version_time} <= w.watermark_to
    where h.{version_time} > :lowest_from
      and h.{version_time} <= :highest_to
      and {still_current}
),

with_before as (
    select c.*, coalesce(before.in_scope, false) as in_scope_before
    from changed as c
    left join lateral (
        select {scope_before} as in_scope
        from {before_source} as p
        where {key_join}
          and p.{before_time} <= c._sink_from
        order by p.{before_time} desc
        limit 1
    ) as before on true
),

final as (
    select
        c._sink_district,
        case
            when c.in_scope_now and c.in_scope_before then 2::smallint
            when c.in_scope_now then 1::smallint
            else 3::smallint
        end as op,
        c.{version_time} as changed_at,
        {columns}
    from with_before as c
    where c.in_scope_now or c.in_scope_before
)

select * from final
