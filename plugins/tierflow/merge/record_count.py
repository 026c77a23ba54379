"""The library's record counts: kept by the merge, never counted per merge (one home).

A merge never deletes a library record, so a table's count after a merge is its count before
plus the records the merge inserted. Counting the table instead would cost what the library
costs (a sequential scan of 20M rows: 2-12.5 s, by the page cache) on every daily increment.
A table with no kept count (a new warehouse, or one whose library schema was emptied) is
counted once, by the merge that finds it missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from tierflow.merge.plan import template


def _name(library_table: str) -> str:
    return library_table.removeprefix("library.").strip('"')


def kept(conn: Connection, library_table: str) -> int | None:
    """The kept count of ``library_table`` (``library."name"``), or None if none is kept."""
    records = conn.scalar(
        sa.text(template("record_count_read.sql")), {"table_name": _name(library_table)}
    )
    return None if records is None else int(records)


def after_merge(conn: Connection, library_table: str, inserted: int) -> int:
    """The count of ``library_table`` once this merge's ``inserted`` records are in: kept in
    ``library.record_count`` in the merge's own transaction."""
    name = _name(library_table)
    params = {"table_name": name, "inserted": inserted}
    records = conn.scalar(sa.text(template("record_count_add.sql")), params)
    if records is None:
        counted = conn.scalar(sa.text(template("count_rows.sql", table=library_table)))
        records = conn.scalar(
            sa.text(template("record_count_set.sql")), {"table_name": name, "records": counted}
        )
    return int(records)
