"""The run's consistent cut: one state of the warehouse that every statement of a sink reads.

On one PostgreSQL server the statements share a snapshot exported by a transaction held open
for the run, so statements over ranges of a source's pages see each row version in exactly
one range. Citus has no snapshot across shards (a multi-shard read concurrent with a commit
may see it on some shards only), so there the cut is the feed windows' upper bounds alone.
They are enough: every statement reads only versions opened at or before its window's end
that were still current then, and history below that bound never changes (a merge opens and
closes versions at its own transaction time, later than any bound fixed before it started).
Two conditions remain, both met here: the bound is read only after every merge that could
still be committing on some worker has finished (each feeding library's merge lock, which a
merge holds until its commit reached every worker), and no statement reads a range of pages
(ctid is per shard; Citus runs a statement's shard tasks in parallel itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierflow import locks
from tierflow.sql_files import statement

if TYPE_CHECKING:
    from collections.abc import Iterable

    import sqlalchemy as sa


def _library_of(table: str) -> str | None:
    """The library whose merge writes ``table`` (``library.<name>_history``), if any."""
    from tierflow.merge.survivorship import libraries, load_rules

    schema, _, name = table.partition(".")
    if schema != "library":
        return None  # thematic tables: loaded by this run's own process before the cut
    for library in libraries():
        if name.removesuffix("_history") in load_rules(library).tables:
            return library
    return None


def settle(conn: sa.Connection, tables: Iterable[str], citus: bool) -> None:
    """On Citus, wait until no merge of a library behind ``tables`` is committing."""
    if not citus:
        return  # one server: the window's bound is read in one snapshot already
    for library in sorted({lib for t in tables if (lib := _library_of(t)) is not None}):
        locks.wait_for(conn, locks.merge_lock(library))


def snapshot(conn: sa.Connection, citus: bool) -> str | None:
    """The run's snapshot for every statement to import; None on Citus (the bounds cut)."""
    return None if citus else conn.scalar(statement("sink", "snapshot_export"))
