"""Resource-pool tables, derived from the contracts (``pool.<department>_<dataset>``).

A contract is the only place a dataset is declared, so its pool table is created from
it: by the migration for the contracts that exist then, and by ingest for any added later.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tierflow.contracts import ColumnType, Dataset

PG_TYPES = {
    ColumnType.string: "text",
    ColumnType.integer: "bigint",
    ColumnType.decimal: "double precision",
    ColumnType.date: "date",
    ColumnType.timestamp: "timestamptz",
}


def quote(identifier: str) -> str:
    """Quote an identifier for PostgreSQL (contracts already restrict names; this is the belt)."""
    return '"' + identifier.replace('"', '""') + '"'


def pool_table(dataset: Dataset) -> str:
    return f"pool.{quote(dataset.table_name)}"


def pool_table_ddl(dataset: Dataset) -> list[str]:
    columns = ",\n    ".join(f"{quote(c.name)} {PG_TYPES[c.type]}" for c in dataset.columns)
    key = ", ".join(quote(k) for k in dataset.key)
    table = pool_table(dataset)
    return [
        # No unique constraint: ingest de-duplicates each delivery before publishing, and every
        # extra index on this table doubles the cost of loading a delivery (one key index only).
        f"create table if not exists {table} (\n    _delivery_id bigint not null,\n"
        f"    _row_number bigint not null,\n    {columns}\n)",
        f"create index if not exists {quote(dataset.table_name + '_key')} on {table} ({key})",
    ]


def ensure_pool_table(conn: Connection, dataset: Dataset) -> None:
    for statement in pool_table_ddl(dataset):
        conn.execute(sa.text(statement))
