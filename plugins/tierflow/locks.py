"""Named PostgreSQL advisory locks: the one place their names live (their SQL: ``sql/locks``).

Ingest holds a dataset's lock for the whole delivery; merge waits on it so no delivery it has
not seen can commit under its watermark; sink and thematic loads serialise on their own names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierflow.sql_files import statement

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def ingest_lock(dataset_id: str) -> str:
    return f"tierflow.ingest.{dataset_id}"


def merge_lock(library: str) -> str:
    """A library's merge holds this for its whole transaction (on Citus: until its commit has
    reached every worker, so waiting on it means no half-committed merge)."""
    return f"tierflow.merge.{library}"


def hold_for_transaction(conn: Connection, name: str) -> None:
    """Taken until the surrounding transaction ends."""
    conn.execute(statement("locks", "hold_for_transaction"), {"k": name})


def hold(conn: Connection, name: str) -> None:
    """Taken until :func:`release` on the same connection (survives commits)."""
    conn.execute(statement("locks", "hold"), {"k": name})


def release(conn: Connection, name: str) -> None:
    conn.execute(statement("locks", "release"), {"k": name})


def wait_for(conn: Connection, name: str) -> None:
    """Block until whoever holds ``name`` lets go, without keeping it."""
    hold(conn, name)
    release(conn, name)


def hold_all(conn: Connection, names: list[str]) -> None:
    """Take several locks until :func:`release_all`, in one order whoever asks (no deadlock
    between two holders of overlapping sets, even when two names share a hash)."""
    conn.execute(
        statement("locks", "hold_all"),
        {"names": list(names)},
    )


def release_all(conn: Connection, names: list[str]) -> None:
    conn.execute(
        statement("locks", "release_all"),
        {"names": list(names)},
    )
