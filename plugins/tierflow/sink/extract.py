"""Rows of one feed out of PostgreSQL: one ``COPY (select …) TO STDOUT`` into Arrow.

The SQL (``sql/sink/*.sql``) selects only the planned columns, so withheld fields never
leave the database; pseudonyms are computed in the same statement. Timestamps travel as
epoch microseconds (exact, no time-zone parsing) and become UTC timestamps in Arrow.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from importlib.resources import files
from typing import Any

import pyarrow as pa
import pyarrow.csv as pv

from tierflow.masking import PSEUDONYM, apply_mask, install_key, pseudonym_sql
from tierflow.pool import quote
from tierflow.sink.plan import ARROW_TYPES, FeedPlan
from tierflow.sink.sources import FeedSource

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


def _scope(source: FeedSource, alias: str) -> str:
    if source.scope == "geofence":
        return f'{alias}."district_code" = :district'
    return f'left({alias}."division_code", 6) = :district'


def _column_sql(plan: FeedPlan, column: str, kind: str, treatment: str) -> str:
    value = f"c.{quote(column)}"
    if treatment == PSEUDONYM:
        value = pseudonym_sql(value)
    elif kind == "timestamp":
        value = f"(extract(epoch from {value}) * 1000000)::bigint"
    elif kind == "double":
        value = f"{value}::double precision"
    elif kind == "bigint":
        value = f"{value}::bigint"
    if column not in plan.source.key:
        value = f"case when c.in_scope_now then {value} end"  # delete rows carry the key only
    return value


def changes_sql(plan: FeedPlan, incremental: bool) -> str:
    source = plan.source
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
        scope_now=_scope(source, "h"),
        scope_before=_scope(source, "p"),
        still_current=(
            "true"
            if source.append_only
            else '(h."valid_to" is null or h."valid_to" > :watermark_to)'
        ),
        key_join=" and ".join(f"p.{quote(k)} = c.{quote(k)}" for k in source.key),
        columns=columns,
        order_by=", ".join(
            f'{quote(plan.source.output_name(k))} collate "C"'
            if plan.source.columns[k] == "text"
            else quote(plan.source.output_name(k))
            for k in source.key
        ),
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


def _csv_types(plan: FeedPlan) -> dict[str, pa.DataType]:
    types = {"op": pa.string(), "changed_at": pa.int64()}
    for c in plan.columns:
        arrow = ARROW_TYPES[c.kind]
        types[c.output] = (
            pa.int64() if c.kind == "timestamp" and c.treatment != PSEUDONYM else arrow
        )
    return types


def extract(
    conn: Any,
    plan: FeedPlan,
    watermark_from: dt.datetime | None,
    watermark_to: dt.datetime,
    key: bytes | None,
) -> pa.Table:
    """The feed's rows, masked, in the plan's schema and in key order. ``conn``: psycopg."""
    schema = plan.schema()
    incremental = watermark_from is not None
    params = {
        "district": plan.division_code,
        "watermark_from": watermark_from or EPOCH,
        "watermark_to": watermark_to,
    }
    buffer = io.BytesIO()
    with conn.cursor() as cursor:
        # ISO dates for the CSV parser; no session setting leaks past this transaction
        cursor.execute("set local datestyle = 'ISO, YMD'")
        if plan.pseudonymised:
            if key is None:
                raise ValueError("a pseudonymised feed needs the consumer key")
            install_key(cursor, key)
        sql = to_psycopg(changes_sql(plan, incremental))
        with cursor.copy(f"copy ({sql}) to stdout (format csv, header true)", params) as copy:
            for chunk in copy:
                buffer.write(chunk)
    buffer.seek(0)
    if buffer.getbuffer().nbytes == 0:
        return schema.empty_table()
    table = pv.read_csv(
        buffer,
        read_options=pv.ReadOptions(block_size=16 << 20),
        convert_options=pv.ConvertOptions(
            column_types=_csv_types(plan),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # COPY quotes an empty string, never a NULL
        ),
    )
    arrays = []
    for field in schema:
        column = table.column(field.name)
        if field.type == ARROW_TYPES["timestamp"]:
            column = column.cast(pa.timestamp("us")).cast(field.type)
        arrays.append(column)
    table = pa.Table.from_arrays(arrays, schema=schema)
    for c in plan.columns:
        if c.mask is not None:
            index = table.schema.get_field_index(c.output)
            table = table.set_column(
                index, table.schema.field(index), apply_mask(table.column(index), c.mask)
            )
    return table
