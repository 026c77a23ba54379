"""PostgreSQL side of ingest: COPY Arrow batches into staging, publish set-based.

Rows reach PostgreSQL only through ``COPY … FROM STDIN`` fed by ``pyarrow.csv.write_csv``
(no Python row objects, no per-row INSERT); moving them on is one SQL statement.
"""

from __future__ import annotations

import io
from importlib.resources import files

import pyarrow as pa
import pyarrow.csv as pv
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tierflow.contracts import Dataset
from tierflow.pool import PG_TYPES, pool_table, quote

SQL = files("tierflow") / "sql" / "ingest"


def sql_template(name: str, **identifiers: str) -> str:
    return (SQL / name).read_text(encoding="utf-8").format(**identifiers)


def copy_table(conn: Connection, table_name: str, table: pa.Table) -> None:
    """COPY an Arrow table whose column names match the target's, as CSV."""
    if table.num_rows == 0:
        return
    buffer = io.BytesIO()
    pv.write_csv(
        table, buffer, write_options=pv.WriteOptions(include_header=False, quoting_style="needed")
    )
    columns = ", ".join(quote(n) for n in table.column_names)
    driver = conn.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"copy {table_name} ({columns}) from stdin (format csv)") as copy,
    ):
        view = buffer.getbuffer()
        step = 8 << 20
        for start in range(0, len(view), step):
            copy.write(view[start : start + step])
        del view


def create_accepted_stage(conn: Connection, dataset: Dataset, delivery_id: int) -> str:
    """A temporary table (no WAL, no indexes, dropped at commit) shaped like the pool table."""
    name = quote(f"stage_{dataset.table_name}_{delivery_id}")
    columns = ", ".join(f"{quote(c.name)} {PG_TYPES[c.type]}" for c in dataset.columns)
    conn.execute(
        sa.text(f"create temp table {name} (_row_number bigint not null, {columns}) on commit drop")
    )
    return name


def create_quarantine_stage(conn: Connection, raw_columns: list[str], delivery_id: int) -> str:
    name = quote(f"quarantine_{delivery_id}")
    columns = ", ".join(f"{quote(c)} text" for c in raw_columns)
    conn.execute(
        sa.text(
            f"create temp table {name} (_row_number bigint not null, _reasons text not null, {columns}) on commit drop"
        )
    )
    return name


def publish(
    conn: Connection, dataset: Dataset, stage: str, delivery_id: int, *, keys_unique: bool = False
) -> tuple[int, int]:
    """Stage -> pool with in-delivery de-duplication; returns (superseded, published).

    ``keys_unique`` (known from the streamed keys) skips the ranking pass entirely.
    """
    key = ", ".join(quote(k) for k in dataset.key)
    if dataset.updated_at:
        order_by = f"{quote(dataset.updated_at)} desc nulls last, _row_number desc"
    else:
        order_by = "_row_number desc"
    statement = sql_template(
        "publish_delivery_unique.sql" if keys_unique else "publish_delivery.sql",
        key_columns=key,
        order_by=order_by,
        stage=stage,
        pool_table=pool_table(dataset),
        columns=", ".join(quote(c.name) for c in dataset.columns),
    )
    # the ranking sort of a large delivery stays in memory instead of spilling to disk
    conn.execute(sa.text("set local work_mem = '256MB'"))
    row = conn.execute(sa.text(statement), {"delivery_id": delivery_id}).one()
    return int(row.rows_superseded), int(row.rows_published)


def record_quarantine(conn: Connection, stage: str, delivery_id: int) -> None:
    conn.execute(
        sa.text(sql_template("record_quarantine.sql", stage=stage)), {"delivery_id": delivery_id}
    )
