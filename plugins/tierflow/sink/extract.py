"""Rows of feeds as Arrow: a statement's binary COPY streamed, cut by district, masked, sorted.

A batch's statement (``statements``: its SQL and session) streams binary COPY
(``copyout``, ``binary``: the server formats no text and nothing parses text here); rows
become Arrow a block at a time (``blocks``); each block is cut by district and masked, and
the pieces wait in a :class:`RowStore` until the district's feed is whole, then are sorted
by key in Arrow (bytewise, as ``collate "C"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierflow.masking import PSEUDONYM, apply_mask
from tierflow.sink.blocks import BLOCK_BYTES, Blocks
from tierflow.sink.copyout import copy_out
from tierflow.sink.statements import (
    PageRange,
    Window,
    batch_signature,
    copy_statement,
    prepare_batch,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tierflow.sharing.policy import FeedPlan
    from tierflow.sink.binary import Wire
    from tierflow.sink.spill import RowStore

DISTRICT = "_sink_district"  # the batch's district of each row, dropped before publishing
RAW_KEY = "_sink_key_"  # a masked key column as extracted, to sort by; dropped before publishing


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
    reader = Blocks(_wire_fields(plan), lambda rows: _deliver(rows, plans, store))
    try:
        with conn.cursor() as cursor:
            prepare_batch(cursor, windows, snapshot)
        # COPY TO sends one message per row: blocks end between rows
        copy_out(conn, copy_statement(conn, windows, pages), reader.hand_over, BLOCK_BYTES)
    finally:
        reader.finish()
