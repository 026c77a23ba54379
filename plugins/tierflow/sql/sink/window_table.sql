-- The batch's districts, their windows and pseudonym key pads (filled by COPY next): a
-- temporary table of this transaction, emptied in case an earlier batch of it left rows.
create temp table if not exists sink_window (district text primary key,
    ordinal smallint not null, watermark_from timestamptz not null,
    watermark_to timestamptz not null, inner_pad bytea, outer_pad bytea) on commit drop;
truncate pg_temp.sink_window;
