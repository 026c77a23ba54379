"""The merge's work tables (schema ``merge_work``): made and filled from one query each.

On one server a work table is an unlogged table made by ``create table … as`` (its query runs
in parallel workers). On Citus it is distributed by the library table's key and colocated
with it before any row goes in (where ``tierflow.distribution`` placed that library table:
one home for placements), so the pools, the library, its history and every work table of a
merge meet on the same shard and each statement runs as one task per shard on the workers;
a coordinator-local work table would route every touched row through the coordinator twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tierflow import distribution
from tierflow.merge.plan import template

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def create(
    conn: Connection, table: str, query: str, params: dict[str, Any], *, like: str, citus: bool
) -> None:
    """``table`` made from ``query`` (bound ``params``); on Citus placed like ``like`` first."""
    if not citus:
        conn.execute(sa.text(template("work_table.sql", table=table, query=query)), params)
        return
    conn.execute(sa.text(template("work_table_empty.sql", table=table, query=query)), params)
    distribution.distribute_like_parent(conn, table, like)
    conn.execute(sa.text(template("work_table_fill.sql", table=table, query=query)), params)
