"""The SQL of the sink's extraction: which windows share a statement, and that statement.

The districts of a statement receive the same SQL (same source, columns and pseudonymised
columns; their masks, applied in Arrow, may differ): their windows and pseudonym key pads
go into a temporary table by COPY, and one statement reads the source once for all of them
instead of once per district; a big source's first feeds are read by several statements,
each over a range of its pages. The SQL (``sql/sink/changes_*.sql``) selects only the
planned columns, so withheld fields never leave the database; pseudonyms are computed in
the same statement under each district's own key, which is in no SQL text (as 32-byte
digests, hex-encoded by the reader). Nothing here touches Arrow: ``extract`` streams what
these statements send.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg import ClientCursor

from tierflow.masking import PSEUDONYM, hmac_pads, pseudonym_sql, treatment_sql
from tierflow.pool import quote
from tierflow.sharing.policy import SQL_TYPES, FeedPlan
from tierflow.sink.sql import qualified, template, to_psycopg

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tierflow.sink.sources import FeedSource

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # lower bound of a district's first window
PageRange = tuple[int, int | None]  # [first, end) pages of the source; None: to its end
_SNAPSHOT = re.compile(r"^[0-9A-F]+-[0-9A-F]+-[0-9]+$")


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


def _legs(source: FeedSource, bound: str) -> list[tuple[str, str, str]]:
    """(table, version time, still-current condition) of each table ``source``'s versions
    are read from: its table, or a library's history and then its rows (``current_table``,
    whose every row is a current version, valid from its ``changed_at``)."""
    own = (qualified(source.table), quote(source.version_time), _still_current(source, bound))
    if not source.closed_history:
        return [own]
    return [own, (qualified(source.current_table), quote(source.current_changed_at), "true")]


def _over_versions(source: FeedSource, bound: str, union: str, render: Any) -> str:
    """``render(table, version_time, still_current)`` over each leg, one statement."""
    legs = [render(*leg) for leg in _legs(source, bound)]
    if len(legs) == 1:
        return legs[0]
    return template("versions_union.sql", closed=legs[0], current=legs[1], union=union)


def _still_current(source: FeedSource, bound: str) -> str:
    """A version that still stood after ``bound`` (an append-only source keeps every row)."""
    return "true" if source.append_only else f'(h."valid_to" is null or h."valid_to" > {bound})'


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

    def render(table: str, version_time: str, still_current: str) -> str:
        return template(
            name,
            source=table,
            version_time=version_time,
            before_source=qualified(source.table),
            before_time=quote(source.version_time),
            scope_now=source.scope_sql("h", "w.district"),
            scope_any=source.scope_sql("h", "any(:districts)"),
            scope_before=source.scope_sql("p", "c._sink_code"),
            still_current=still_current,
            key_join=" and ".join(f"p.{quote(k)} = c.{quote(k)}" for k in source.key),
            columns=columns,
            pages=_pages_sql(pages),
        )

    return _over_versions(source, "w.watermark_to", "union all", render)


def latest_version(conn: Any, source: FeedSource) -> dt.datetime | None:
    """The latest change ``source`` holds (``conn``: psycopg): the end of a new window."""
    # the last leg: a library's latest version is the row that changed last (every closed
    # version closed when a later one, at most that row's changed_at, was made)
    table, version_time, _ = _legs(source, "")[-1]
    sql = template("latest_version.sql", source=table, version_time=version_time)
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def install_windows(cursor: Any, windows: Sequence[Window], pseudonymised: bool) -> None:
    """The batch's districts, windows and key pads: a temporary table of this transaction."""
    cursor.execute(template("window_table.sql"))
    with cursor.copy(template("window_copy.sql").strip()) as copy:
        for ordinal, w in enumerate(windows):
            if pseudonymised and w.key is None:
                raise ValueError("a pseudonymised feed needs the consumer key")
            pads = hmac_pads(w.key) if pseudonymised and w.key is not None else (None, None)
            copy.write_row(
                [w.plan.division_code, ordinal, w.watermark_from or EPOCH, w.watermark_to, *pads]
            )
    cursor.execute(template("window_analyze.sql"))


def prepare_batch(cursor: Any, windows: Sequence[Window], snapshot: str | None) -> None:
    """The session of a batch's statement: its snapshot, its join strategy, its windows."""
    first = windows[0]
    if snapshot is not None:
        if not _SNAPSHOT.match(snapshot):
            raise ValueError(f"not a snapshot id: {snapshot!r}")
        cursor.execute(template("snapshot_use.sql", snapshot=snapshot))
    if not first.incremental and len(windows) > 1:
        cursor.execute(template("first_feeds_hash_join.sql"))
    install_windows(cursor, windows, first.plan.pseudonymised)


def copy_statement(conn: Any, windows: Sequence[Window], pages: PageRange | None) -> str:
    """The batch's ``COPY (…) TO STDOUT (format binary)``, its values bound client-side."""
    first = windows[0]
    sql = to_psycopg(changes_sql(first.plan, first.incremental, pages))
    params = {
        "districts": [w.plan.division_code for w in windows],
        "lowest_from": min(w.watermark_from or EPOCH for w in windows),
        "highest_to": max(w.watermark_to for w in windows),
    }
    return ClientCursor(conn).mogrify(f"copy ({sql}) to stdout (format binary)", params)


def purge_keys_sql(source: FeedSource, division_code: str, key_treatment: dict[str, str]) -> str:
    """Every key of ``source`` a district has received, keyed as it received them."""
    if not division_code.isdigit() or len(division_code) != 6:
        raise ValueError(f"not a district code: {division_code!r}")
    key_values = ", ".join(
        f"{treatment_sql(f'h.{quote(k)}', key_treatment[k], SQL_TYPES[source.columns[k]])}"
        f" as {quote(source.output_name(k))}"
        for k in source.key
    )

    def render(table: str, version_time: str, still_current: str) -> str:
        return template(
            "purge_keys.sql",
            key_columns=", ".join(f"h.{quote(k)}" for k in source.key),
            source=table,
            scope=source.scope_sql("h", f"'{division_code}'"),
            version_time=version_time,
            still_current=still_current,
            key_values=key_values,
        )

    return _over_versions(source, ":sent_from", "union", render)
