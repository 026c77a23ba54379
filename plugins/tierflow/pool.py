"""Resource-pool tables, derived from the contracts (``pool.<department>_<dataset>``).

A contract is the only place a dataset is declared, so its pool table is created from
it: by the migration for the contracts that exist then, and by ingest for any added later.
Each delivery's partition of it is written by ``tierflow.ingest.writer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from tierflow.contracts import ColumnType, Dataset
from tierflow.sql_files import sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

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


def delivery_partition(dataset: Dataset, delivery_id: int) -> str:
    """The name (unquoted, in schema ``pool``) of the partition holding one delivery's rows."""
    return f"{dataset.table_name}_d{int(delivery_id)}"


# Each accepted row's change hash (tierflow.ingest.change_hash), last so that migration 0012
# adding it to older pools gives them the same column order as pools created since.
CHANGE_HASH = "_change_hash"


def pool_table_ddl(
    dataset: Dataset, *, partitioned: bool = True, change_hash: bool = True
) -> list[str]:
    """The pool's DDL; ``change_hash=False`` is the layout before 0012 (for 0005)."""
    columns = ",\n    ".join(f"{quote(c.name)} {PG_TYPES[c.type]}" for c in dataset.columns)
    if change_hash:
        columns += f",\n    {quote(CHANGE_HASH)} bigint"
    table = pool_table(dataset)
    return [
        sql(
            "ingest",
            "pool_table.sql",
            pool=table,
            columns=columns,
            partitioning=" partition by range (_delivery_id)" if partitioned else "",
        ),
        sql(
            "ingest",
            "pool_key_index.sql",
            index=quote(dataset.table_name + "_key"),
            pool=table,
            key=", ".join(quote(k) for k in dataset.key),
        ),
    ]


def ensure_pool_table(conn: Connection, dataset: Dataset, *, change_hash: bool = True) -> None:
    """The dataset's pool if it has none; ``change_hash=False``: without 0012's column (0001)."""
    for statement in pool_table_ddl(dataset, change_hash=change_hash):
        conn.execute(sa.text(statement))
