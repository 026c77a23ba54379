"""``aggregate``: thematic.tier_aggregate for one run, and the upward report file.

Each subject is one SQL file (``sql/aggregate``) that rolls the rows up with
``GROUP BY ROLLUP`` in the database, so every tier of a run is computed in the same
statement from the same rows and the additive measures of a tier are the sums of its
children's by construction (the tests check it anyway).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from tierflow import locks, storage
from tierflow.contracts import catalog
from tierflow.db import engine as default_engine
from tierflow.lists import today
from tierflow.run_ids import default_run_id, safe_run_id
from tierflow.sink.publish import publish_table
from tierflow.sink.signing import Signer, configured_signer
from tierflow.sql_files import sql

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.engine import Engine

SUBJECTS = ("population", "legal_entity", "e_license", "service_case", "truck_gps")
COLUMNS = "run_id, subject, tier, division_code, parent_code, dimension, measure, value"
# Measures whose parent equals the sum of its children (medians and means do not add up).
ADDITIVE = {
    "population": ("persons",),
    "legal_entity": ("entities",),
    "e_license": ("licenses",),
    "service_case": ("cases", "completed", "rating_sum", "rated"),
    "truck_gps": ("vehicle_days",),
}
REPORT_SCHEMA = pa.schema(
    [
        ("subject", pa.string()),
        ("tier", pa.string()),
        ("division_code", pa.string()),
        ("parent_code", pa.string()),
        ("dimension", pa.string()),
        ("measure", pa.string()),
        ("value", pa.float64()),
    ]
)


def subject_statement(subject: str) -> str:
    """The statement that writes one subject's tiers of a run (its SQL file's rows)."""
    return f"insert into thematic.tier_aggregate ({COLUMNS}) " + sql("aggregate", subject)


def statements() -> list[str]:
    """Every statement ``aggregate`` runs, in order (lineage reads its tables from them)."""
    return [
        sql("aggregate", "clear_run"),
        *(subject_statement(subject) for subject in SUBJECTS),
        sql("aggregate", "upward_report.sql"),
        sql("aggregate", "record_report"),
    ]


def aggregate(
    run_id: str | None = None,
    *,
    as_of: dt.date | None = None,
    eng: Engine | None = None,
    districts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Recompute every subject's tiers for ``run_id`` (idempotent) and publish the upward report.

    ``districts``: which pilot districts' feed partitions the run waited for and which it went
    without (``tierflow.partitions.coverage``); the report's manifest names them."""
    signer = configured_signer()  # the report is signed like the feeds: no key, no work
    eng = eng or default_engine()
    started = time.perf_counter()
    run_id = safe_run_id(run_id or default_run_id())
    as_of = as_of or today()
    params = {"run_id": run_id, "as_of": as_of, "city": catalog().divisions.city_code}
    rows: dict[str, int] = {}
    with eng.begin() as conn:
        locks.hold_for_transaction(conn, "tierflow.aggregate")
        conn.execute(sa.text(sql("aggregate", "clear_run")), {"r": run_id})
        for subject in SUBJECTS:
            done = conn.execute(sa.text(subject_statement(subject)), params)
            rows[subject] = done.rowcount
        report = publish_report(conn, run_id, as_of, signer, districts)
    return {
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "rows": rows,
        "report": report,
        "seconds": round(time.perf_counter() - started, 3),
    }


def publish_report(
    conn: sa.Connection,
    run_id: str,
    as_of: dt.date,
    signer: Signer,
    districts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The city and district tiers as one Parquet file with its own manifest, atomically."""
    result = conn.execute(sa.text(sql("aggregate", "upward_report.sql")), {"run_id": run_id}).all()
    columns = list(zip(*result, strict=True)) if result else [[] for _ in REPORT_SCHEMA]
    table = pa.Table.from_arrays(
        [
            pa.array(list(values), type=field.type)
            for values, field in zip(columns, REPORT_SCHEMA, strict=True)
        ],
        schema=REPORT_SCHEMA,
    )
    target = storage.reports_dir() / "national" / run_id
    manifest = publish_table(
        target,
        table,
        {
            "format": "tierflow-upward-report/1",
            "run_id": run_id,
            "as_of": as_of.isoformat(),
            "tiers": ["city", "district"],
            "subjects": list(SUBJECTS),
            "schema": [{"name": f.name, "type": str(f.type)} for f in REPORT_SCHEMA],
            **({"districts": districts} if districts is not None else {}),
        },
        signer=signer,
    )
    digest = manifest["files"][0]["sha256"] if manifest["files"] else ""
    conn.execute(
        sa.text(sql("aggregate", "record_report")),
        {"r": run_id, "a": as_of, "p": str(target), "n": table.num_rows, "s": digest},
    )
    answer = {"path": str(target), "rows": table.num_rows, "sha256": digest}
    return {**answer, "districts": districts} if districts is not None else answer
