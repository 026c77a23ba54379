"""Thematic databases from their pools: one load per thematic feed (``schemas/feeds/``).

A feed that keeps versions (service cases, and any thematic dataset added as data) is loaded
by one generic statement built from its contract (``tierflow.tables``): the latest row per
key, type-2 history. Truck GPS (append-only, geofenced) has its own load: its points are
located in Arrow against the district polygons of the geospatial library (vectorised,
``tierflow.sink.geofence``) and stored in day partitions with their district.

Each load takes the deliveries loaded since its last one (``thematic.load_watermark``) in one
transaction under an advisory lock, so a load is all or nothing and never runs twice at once.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import sqlalchemy as sa

from tierflow import locks
from tierflow.clock import SHANGHAI
from tierflow.contracts import ColumnType
from tierflow.db import engine as default_engine
from tierflow.ingest.load import copy_table
from tierflow.pool import quote
from tierflow.sink.geofence import Geofence
from tierflow.sink.sql import statement, template, to_psycopg
from tierflow.tables import VersionedTable, thematic_tables

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


def _window(conn: Connection, dataset: str) -> tuple[int, int]:
    locks.hold_for_transaction(conn, f"tierflow.thematic.{dataset}")
    row = conn.execute(statement("thematic_window.sql"), {"dataset": dataset}).one()
    return int(row.low), int(row.high)


def _advance(conn: Connection, dataset: str, high: int) -> None:
    conn.execute(statement("thematic_advance.sql"), {"dataset": dataset, "high": high})


def upsert_sql(table: VersionedTable) -> str:
    """The generic versioned load of ``table`` from its pool (``thematic_upsert.sql``)."""
    key = [quote(k) for k in table.key]
    columns = [quote(c) for c in table.columns]
    values = [
        f"d.{quote(c)}" if t == ColumnType.string else f"d.{quote(c)}::text"
        for c, t in table.columns.items()
        if c not in table.key
    ]
    return template(
        "thematic_upsert.sql",
        table=table.qualified,
        history=table.qualified_history,
        pool=table.pool,
        key=", ".join(key),
        source_key=", ".join(f"s.{k}" for k in key),
        source_columns=", ".join(f"s.{c}" for c in columns),
        columns=", ".join(columns),
        hashed_values=", ".join(values),
        updates=", ".join(f"{c} = excluded.{c}" for c in columns if c not in key),
        key_join=" and ".join(f"h.{k} = u.{k}" for k in key),
    )


def load_versions(conn: Connection, table: VersionedTable) -> dict[str, Any]:
    dataset = table.dataset.id  # type: ignore[union-attr]
    low, high = _window(conn, dataset)
    result = {"dataset": dataset, "deliveries": [low, high], "inserted": 0, "updated": 0}
    if high == low:
        return result
    row = conn.execute(sa.text(upsert_sql(table)), {"low": low, "high": high}).one()
    _advance(conn, dataset, high)
    return {**result, "inserted": int(row.inserted), "updated": int(row.updated)}


def _ensure_day_partitions(conn: Connection, recorded_us: pa.Array) -> list[str]:
    """One partition per Asia/Shanghai day present in the batch."""
    if len(recorded_us) == 0:
        return []
    days = np.unique((np.asarray(recorded_us, dtype=np.int64) // 1_000_000 + 8 * 3600) // 86400)
    created = []
    for day_number in days.tolist():
        day = dt.date(1970, 1, 1) + dt.timedelta(days=int(day_number))
        start = dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI)
        name = f"truck_gps_{day:%Y%m%d}"
        exists = conn.scalar(statement("relation_exists.sql"), {"t": f"thematic.{name}"})
        if exists is None:
            conn.execute(
                statement(
                    "truck_gps_partition.sql",
                    name=quote(name),
                    start=start.isoformat(),
                    end=(start + dt.timedelta(days=1)).isoformat(),
                )
            )
            created.append(name)
    return created


def _read_new_points(conn: Connection, low: int, high: int) -> pa.Table:
    driver = conn.connection.driver_connection
    buffer = io.BytesIO()
    sql = to_psycopg(template("truck_gps_new.sql"))
    with (
        driver.cursor() as cursor,
        cursor.copy(
            f"copy ({sql}) to stdout (format csv, header true)", {"low": low, "high": high}
        ) as copy,
    ):
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    return pv.read_csv(
        buffer,
        convert_options=pv.ConvertOptions(
            column_types={
                "plate_number": pa.string(),
                "recorded_us": pa.int64(),
                "longitude": pa.float64(),
                "latitude": pa.float64(),
                "speed_kmh": pa.float64(),
                "heading": pa.int64(),
                "delivery_id": pa.int64(),
            }
        ),
    )


def load_truck_gps(conn: Connection) -> dict[str, Any]:
    low, high = _window(conn, "trans.truck_gps")
    result: dict[str, Any] = {
        "dataset": "trans.truck_gps",
        "deliveries": [low, high],
        "inserted": 0,
    }
    if high == low:
        return result
    points = _read_new_points(conn, low, high)
    started = time.perf_counter()
    fence = Geofence.from_warehouse(conn)
    districts = fence.locate(
        points.column("longitude").to_numpy(zero_copy_only=False),
        points.column("latitude").to_numpy(zero_copy_only=False),
    )
    points = points.append_column("district_code", pa.array(districts, type=pa.string()))
    result["geofence_seconds"] = round(time.perf_counter() - started, 3)
    result["outside"] = int(pc.sum(pc.equal(points.column("district_code"), "")).as_py() or 0)
    result["partitions_created"] = _ensure_day_partitions(conn, points.column("recorded_us"))
    stage = quote(f"stage_truck_gps_{high}")
    conn.execute(statement("truck_gps_stage.sql", stage=stage))
    copy_table(conn, stage, points)
    row = conn.execute(statement("truck_gps_insert.sql", stage=stage)).one()
    result["inserted"] = int(row.inserted)
    result["points"] = points.num_rows
    _advance(conn, "trans.truck_gps", high)
    return result


def load_thematic(eng: Engine | None = None) -> dict[str, Any]:
    """Load every thematic table from its pool's new deliveries, one transaction each, keyed
    by feed name: the versioned ones generically, then the truck GPS points."""
    eng = eng or default_engine()
    loaded: dict[str, Any] = {}
    for table in thematic_tables():
        with eng.begin() as conn:
            loaded[table.name] = load_versions(conn, table)
    with eng.begin() as conn:
        loaded["truck_gps"] = load_truck_gps(conn)
    return loaded
