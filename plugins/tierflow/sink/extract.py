"""Rows of feeds out of PostgreSQL: one ``COPY (select …) TO STDOUT`` per statement.

The districts of a statement receive the same SQL (same source, columns and pseudonymised
columns; their masks, applied in Arrow, may differ): their windows and pseudonym key pads
go into a temporary table by COPY, and one statement reads the source once for all of them
instead of once per district; a big source's first feeds are read by several statements,
each over a range of its pages. The SQL (``sql/sink/*.sql``) selects only the planned
columns, so withheld fields never leave the database; pseudonyms are computed in the same
statement under each district's own key, which is in no SQL text (as 32-byte digests,
hex-encoded by the reader). Rows travel as binary COPY (``binary.py``: the server formats
no text and nothing parses text here) and become Arrow a block at a time; each block is
cut by district and masked, and the pieces wait in a :class:`RowStore` until the
district's feed is whole, then are sorted by key in Arrow (bytewise, as ``collate "C"``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import ClientCursor

from tierflow.masking import PSEUDONYM, apply_mask, hmac_pads, pseudonym_sql
from tierflow.pool import quote
from tierflow.sharing.policy import SQL_TYPES, FeedPlan
from tierflow.sink.binary import HEADER_BYTES, SIGNATURE, Wire, parse_rows
from tierflow.sink.copyout import copy_out
from tierflow.sink.sources import FeedSource
from tierflow.sink.spill import RowStore

SQL = files("tierflow") / "sql" / "sink"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # lower bound of a district's first window
_BIND = re.compile(r"(?<![:\w]):([a-z_]+)\b")


def template(name: str, **identifiers: str) -> str:
    return (SQL / name).read_text(encoding="utf-8").format(**identifiers)


def to_psycopg(sql: str) -> str:
    """``:name`` binds (as in the SQL files) → psycopg ``%(name)s``; ``::`` casts untouched."""
    return _BIND.sub(r"%(\1)s", sql.replace("%", "%%"))


def qualified(table: str) -> str:
    schema, name = table.split(".")
    return f"{quote(schema)}.{quote(name)}"


DISTRICT = "_sink_district"  # the batch's district of each row, dropped before publishing
RAW_KEY = "_sink_key_"  # a masked key column as extracted, to sort by; dropped before publishing
PageRange = tuple[int, int | None]  # [first, end) pages of the source; None: to its end


@dataclass(frozen=True)
class Window:
    """One district's feed in a batch: its plan, its run window and its pseudonym key."""

    plan: FeedPlan
    watermark_from: dt.datetime | None
    watermark_to: dt.datetime
    key: bytes | None = None

    @property
    def incremental(self) -> bool:
        return self.watermark_from is not None and not self.plan.source.append_only


def batch_signature(window: Window) -> tuple:
    """Windows with equal signatures can share one statement (masks are applied in Arrow)."""
    plan = window.plan
    return (
        plan.source.name,
        window.incremental,
        tuple((c.column, c.output, c.kind, c.treatment == PSEUDONYM) for c in plan.columns),
    )


def _column_sql(plan: FeedPlan, column: str, kind: str, treatment: str) -> str:
    value = f"c.{quote(column)}"
    if treatment == PSEUDONYM:
        value = pseudonym_sql(value, "c._sink_inner", "c._sink_outer", hex_text=False)
    else:  # the binary reader expects exactly this type's wire format
        value = f"{value}::{SQL_TYPES[kind]}"
    if column not in plan.source.key:
        value = f"case when c.in_scope_now then {value} end"  # delete rows carry the key only
    return value


def _pages_sql(pages: PageRange | None) -> str:
    if pages is None:
        return "true"
    first, end = (int(pages[0]), None if pages[1] is None else int(pages[1]))
    bounds = f"h.ctid >= '({first},0)'::tid"
    return bounds if end is None else f"{bounds} and h.ctid < '({end},0)'::tid"


def changes_sql(plan: FeedPlan, incremental: bool, pages: PageRange | None = None) -> str:
    """The statement for the districts in pg_temp.sink_window (see the templates)."""
    source = plan.source
    if pages is not None and incremental and not source.append_only:
        raise ValueError("only first feeds read a range of pages")
    columns = ",\n        ".join(
        f"{_column_sql(plan, c.column, c.kind, c.treatment)} as {quote(c.output)}"
        for c in plan.columns
    )
    name = (
        "changes_incremental.sql"
        if incremental and not source.append_only
        else "changes_initial.sql"
    )
    return template(
        name,
        source=qualified(source.table),
        version_time=quote(source.version_time),
        scope_now=source.scope_sql("h", "w.district"),
        scope_any=source.scope_sql("h", "any(:districts)"),
        scope_before=source.scope_sql("p", "c._sink_code"),
        still_current=(
            "true"
            if source.append_only
            else '(h."valid_to" is null or h."valid_to" > w.watermark_to)'
        ),
        key_join=" and ".join(f"p.{quote(k)} = c.{quote(k)}" for k in source.key),
        columns=columns,
        pages=_pages_sql(pages),
    )


def latest_version(conn: Any, source: FeedSource) -> dt.datetime | None:
    sql = template(
        "latest_version.sql",
        source=qualified(source.table),
        version_time=quote(source.version_time),
    )
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _wire_fields(plan: FeedPlan) -> list[tuple[str, Wire]]:
    """The statement's columns, in order, as they arrive in binary COPY."""
    fields: list[tuple[str, Wire]] = [
        (DISTRICT, "smallint"),  # the window's ordinal
        ("op", "smallint"),  # see OPS
        ("changed_at", "timestamp"),
    ]
    for c in plan.columns:
        fields.append((c.output, "digest" if c.treatment == PSEUDONYM else c.kind))
    return fields


def _install_windows(cursor: Any, windows: Sequence[Window], pseudonymised: bool) -> None:
    """The batch's districts, windows and key pads: a temporary table of this transaction."""
    cursor.execute(
        "create temp table if not exists sink_window (district text primary key,"
        " ordinal smallint not null, watermark_from timestamptz not null,"
        " watermark_to timestamptz not null, inner_pad bytea, outer_pad bytea) on commit drop"
    )
    cursor.execute("truncate pg_temp.sink_window")
    copy_sql = (
        "copy pg_temp.sink_window"
        " (district, ordinal, watermark_from, watermark_to, inner_pad, outer_pad) from stdin"
    )
    with cursor.copy(copy_sql) as copy:
        for ordinal, w in enumerate(windows):
            if pseudonymised and w.key is None:
                raise ValueError("a pseudonymised feed needs the consumer key")
            pads = hmac_pads(w.key) if pseudonymised and w.key is not None else (None, None)
            copy.write_row(
                [w.plan.division_code, ordinal, w.watermark_from or EPOCH, w.watermark_to, *pads]
            )
    cursor.execute("analyze pg_temp.sink_window")  # one district or many: the right plan


def _sort_columns(plan: FeedPlan) -> list[str]:
    """What a feed is sorted by: its key's values as extracted, before any mask."""
    return [
        f"{RAW_KEY}{c.output}" if c.mask is not None else c.output
        for c in plan.columns
        if c.column in plan.source.key
    ]


def _piece(rows: pa.Table, plan: FeedPlan) -> pa.Table:
    """Some of one district's rows in the plan's schema, masked, plus any masked key column
    as extracted (to sort by): what its feed holds, unsorted."""
    schema = plan.schema()
    arrays = []
    for field in schema:
        column = rows.column(field.name)
        arrays.append(column if column.type == field.type else column.cast(field.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    for c in plan.columns:
        if c.mask is not None:
            index = table.schema.get_field_index(c.output)
            table = table.set_column(
                index, table.schema.field(index), apply_mask(table.column(index), c.mask)
            )
    for c in plan.columns:
        if c.mask is not None and c.column in plan.source.key:
            table = table.append_column(f"{RAW_KEY}{c.output}", rows.column(c.output))
    return table


_NIBBLE = np.full(256, 16, dtype=np.uint8)  # 16: not a lowercase hex digit
_NIBBLE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def _hex_prefix(column: pa.Array) -> np.ndarray | None:
    if column.type != pa.string() or column.null_count:
        return None
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[
        column.offset : column.offset + len(column) + 1
    ]
    if (np.diff(offsets) != 64).any():
        return None
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    nibbles = _NIBBLE[data.reshape(len(column), 64)[:, :16]]
    if (nibbles > 15).any():
        return None
    return ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).view(">u8").ravel()


def _hex_order(keys: pa.ChunkedArray) -> pa.Array | None:
    """The order of a pseudonym key (64 lowercase hex digits) by its first 16 digits as an
    integer: that order is the bytewise one when no two rows share those digits, which is
    checked (else None: the caller sorts the strings). Faster than Arrow's string sort."""
    prefixes = [_hex_prefix(chunk) for chunk in keys.chunks if len(chunk)]
    if not prefixes or any(p is None for p in prefixes):
        return None
    prefix = np.concatenate(prefixes)
    order = np.argsort(prefix)  # any sort: the prefixes are checked to be distinct
    ranked = prefix[order]
    if (ranked[1:] == ranked[:-1]).any():
        return None
    return pa.array(order.astype(np.uint64))


def feed_table(pieces: Sequence[pa.Table], plan: FeedPlan) -> pa.Table:
    """A district's feed from its pieces: in key order (text bytewise, as ``collate "C"``)."""
    schema = plan.schema()
    if not pieces:
        return schema.empty_table()
    rows = pa.concat_tables(pieces)
    keys = _sort_columns(plan)
    order = _hex_order(rows.column(keys[0])) if len(keys) == 1 else None
    if order is None:
        order = pc.sort_indices(rows.select(keys), sort_keys=[(k, "ascending") for k in keys])
    # one chunk per column: the Parquet bytes must not depend on how the rows arrived
    return rows.select(schema.names).take(order).combine_chunks()


BLOCK_BYTES = 8 << 20  # per hand-over to the parsing thread: two in flight per statement
PARSE_BYTES = 2 << 20  # per numpy walk of the columns: stays in the CPU's cache


class _Blocks:
    """COPY's rows turned into Arrow a block at a time on a helper thread, which hands each
    block's rows to ``deliver`` while the next block arrives: the server keeps streaming,
    and bytes and table never both hold a whole statement's rows."""

    def __init__(self, fields: list[tuple[str, Wire]], deliver: Callable[[pa.Table], None]):
        self.fields = fields
        self.deliver = deliver
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-parse")
        self.pending: Future | None = None
        self.first = True

    def hand_over(self, block: bytes, starts: list[int]) -> None:
        self._wait()  # one block parsing, one arriving: memory stays bounded
        self.pending = self.helper.submit(self._parse, block, starts, self.first)
        self.first = False

    def _wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def _parse(self, block: bytes, starts: list[int], first: bool) -> None:
        at = np.asarray(starts, dtype=np.int64)
        if first:  # the first message opens with the header
            if not block.startswith(SIGNATURE) or block[HEADER_BYTES - 4 : HEADER_BYTES] != bytes(
                4
            ):
                raise ValueError("not a binary COPY header this reader understands")
            at = at[1:] if at.size > 1 and at[1] == HEADER_BYTES else at
            if at.size and at[0] == 0:
                at[0] = HEADER_BYTES
            at = at[at < len(block)]
        if at.size and block[at[-1] :] == b"\xff\xff":  # the trailer: a field count of -1
            at = at[:-1]
        # Columns are walked one at a time: in slices that stay in the CPU's cache
        pieces = []
        begin = 0
        while begin < at.size:
            base = int(at[begin])
            end = max(int(np.searchsorted(at, base + PARSE_BYTES)), begin + 1)
            stop = int(at[end]) if end < at.size else len(block)
            pieces.append(parse_rows(block[base:stop], at[begin:end] - base, self.fields))
            begin = end
        if pieces:
            self.deliver(pa.concat_tables(pieces))

    def finish(self) -> None:
        try:
            self._wait()
        finally:
            self.helper.shutdown(wait=True, cancel_futures=True)


OPS = pa.array([None, "insert", "update", "delete"])  # by the statements' op codes


def _deliver(rows: pa.Table, plans: Sequence[FeedPlan], store: RowStore) -> None:
    """A block's rows cut by district (a stable sort of the windows' ordinals)."""
    if not rows.num_rows:
        return
    ordinals = rows.column(DISTRICT).combine_chunks()
    grouped = pc.array_sort_indices(ordinals)
    runs = pc.run_end_encode(ordinals.take(grouped))
    op = rows.schema.get_field_index("op")
    rows = rows.set_column(op, "op", OPS.take(rows.column(op)))
    ordered = rows.drop_columns([DISTRICT]).take(grouped)
    start = 0
    for ordinal, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        plan = plans[ordinal]
        store.add((plan.division_code, plan.name), _piece(ordered.slice(start, end - start), plan))
        start = end


_SNAPSHOT = re.compile(r"^[0-9A-F]+-[0-9A-F]+-[0-9]+$")


def extract_batch(
    conn: Any,
    windows: Sequence[Window],
    store: RowStore,
    *,
    pages: PageRange | None = None,
    snapshot: str | None = None,
) -> None:
    """Each window's rows, masked, into ``store`` by (district code, feed) in pieces.

    ``windows`` share one :func:`batch_signature`; ``pages`` limits the statement to a range
    of the source's pages (first feeds only), ``snapshot`` (exported by
    ``pg_export_snapshot()``) makes several statements read one state of the database.
    ``conn``: psycopg, inside a transaction (repeatable read if ``snapshot``); the
    temporary table and the session settings end with it.
    """
    if not windows:
        return
    first = windows[0]
    if any(batch_signature(w) != batch_signature(first) for w in windows):
        raise ValueError("the windows of a batch must share one statement")
    plan = first.plan
    plans = [w.plan for w in windows]
    reader = _Blocks(_wire_fields(plan), lambda rows: _deliver(rows, plans, store))
    try:
        with conn.cursor() as cursor:
            if snapshot is not None:
                if not _SNAPSHOT.match(snapshot):
                    raise ValueError(f"not a snapshot id: {snapshot!r}")
                cursor.execute(f"set transaction snapshot '{snapshot}'")
            if not first.incremental and len(windows) > 1:
                # Several districts' first feeds: one scan of their rows hashed against the
                # window table; a loop of index scans (one per district) costs more per row.
                cursor.execute("set local enable_nestloop = off")
                cursor.execute("set local enable_mergejoin = off")
            _install_windows(cursor, windows, plan.pseudonymised)
            sql = to_psycopg(changes_sql(plan, first.incremental, pages))
            params = {
                "districts": [w.plan.division_code for w in windows],
                "lowest_from": min(w.watermark_from or EPOCH for w in windows),
                "highest_to": max(w.watermark_to for w in windows),
            }
            statement = ClientCursor(conn).mogrify(
                f"copy ({sql}) to stdout (format binary)", params
            )
            # COPY TO sends one message per row: blocks end between rows
            copy_out(conn, statement, reader.hand_over, BLOCK_BYTES)
    finally:
        reader.finish()
