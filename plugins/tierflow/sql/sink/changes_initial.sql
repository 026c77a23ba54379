-- Districts' first feeds of one source (and every feed of an append-only source): each
-- record in a district of pg_temp.sink_window (one row per district: its window and its
-- pseudonym key pads) as it stood at the window's end, all as inserts. One statement for
-- many districts reads the source once. Rows come out in no order: the caller sorts each
-- district by key. Placeholders are quoted identifiers; the bound values repeat what the
-- window table says as constants (the batch's districts, its lowest and highest bounds) so
-- the planner can pick an index for one district and a single scan for many. A big source
-- is read by several such statements at once, each over its own range of pages (ctid; all
-- in one exported snapshot), so each row is read, hashed and sent once by one of them. A
-- library feed runs this over its history and over its library rows (versions_union.sql),
-- each leg over the same range of pages of its own table: a first feed of now reads the
-- library's rows and only the history's versions closed after its window's end.
-- Rows name their district by its ordinal in the window table and their op by a code
-- (1 insert, 2 update, 3 delete): two bytes each in binary COPY instead of text.
with opened as (
    select
        w.ordinal as _sink_district,
        w.inner_pad as _sink_inner,
        w.outer_pad as _sink_outer,
        h.*,
        true as in_scope_now
    from {source} as h
    inner join pg_temp.sink_window as w
        on {scope_now}
        and h.{version_time} > w.watermark_from
        and h.{version_time} <= w.watermark_to
    where {scope_any}
      and {pages}
      and h.{version_time} > :lowest_from
      and h.{version_time} <= :highest_to
      and {still_current}
),

final as (
    select
        c._sink_district,
        1::smallint as op,
        c.{version_time} as changed_at,
        {columns}
    from opened as c
)

select * from final
