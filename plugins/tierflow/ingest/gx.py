"""A delivery's Great Expectations report: its own step after the load, never inside it.

The rows were gated by the vectorised checks (``tierflow.ingest.check``) when they were
loaded; GX is the report: its suite's verdict and Data Docs. It runs on a recorded delivery
(``validate_delivery``) or on every delivery whose report is pending (``validate_pending``):
the first ``TIERFLOW_GX_SAMPLE_ROWS`` rows of the delivery (all of it when small), read back
from PostgreSQL in row order — its accepted rows from the pool, its quarantined rows as
delivered from ``quality.quarantine`` — and parsed by the same ``parse_batch`` as at ingest,
so GX sees what the masks saw (broken lines, which have no fields, and repeated keys the
load superseded are not in it). The delivery ledger (``quality.ledger``) holds the report's
state: ``pending`` from the load's commit, ``done`` once the result and Data Docs are written.

Idempotent: the validation's run id is the delivery's (``<dataset>-d<id>`` at the load's end),
so a re-run rewrites the same result and pages. A killed run leaves the report pending.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pv

from tierflow import config
from tierflow.contracts import ColumnType, Dataset, catalog
from tierflow.db import engine as default_engine
from tierflow.divisions import official_township_prefixes
from tierflow.errors import TierflowError
from tierflow.ingest.parse import parse_batch
from tierflow.pool import pool_table, quote
from tierflow.quality import ledger
from tierflow.settings import settings
from tierflow.sql_files import sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# timestamps back in the ISO 8601 form ingest parses (UTC, microseconds)
_TIMESTAMP_TEXT = "to_char({c} at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_DATE_TEXT = "to_char({c}, 'YYYY-MM-DD')"


def validate_delivery(delivery_id: int, *, eng: Engine | None = None) -> dict[str, Any]:
    """Validate one loaded delivery with its dataset's suite, write its GX result and Data Docs,
    and record the report as done; returns the report's summary."""
    eng = eng or default_engine()
    with eng.connect() as conn:
        row = ledger.delivery(conn, delivery_id)
        if row is None:
            raise TierflowError(f"no delivery {delivery_id}")
        if row["status"] != "loaded":
            raise TierflowError(f"delivery {delivery_id} is {row['status']}: nothing to validate")
        dataset = catalog().dataset(row["dataset"])
        limit = settings().gx_sample_rows
        sample = read_sample(conn, dataset, delivery_id, limit)
        prefixes = tuple(sorted(official_township_prefixes(conn)))
    scope = "full" if sample.num_rows <= limit else f"sample:{limit}"
    sample = sample.slice(0, limit)
    if sample.num_rows == 0:  # no row with fields (or a sample of 0): no GX run, as in the load
        with eng.begin() as conn:
            ledger.record_gx_report(conn, delivery_id, scope="empty", success=None)
        return {"delivery_id": delivery_id, "dataset": dataset.id, "scope": "empty"}
    from tierflow.checks import suites

    result = suites.run_suite(
        dataset,
        sample.to_pandas(),
        township_prefixes=prefixes,
        run_name=f"{dataset.id}-d{delivery_id}",
        run_time=row["finished_at"],
    )
    summary = suites.summarise(result)
    index = suites.build_data_docs(result, config.docs_dir())
    written = suites.stored_run(result, config.docs_dir())
    with eng.begin() as conn:
        ledger.record_gx_report(conn, delivery_id, scope=scope, success=summary["success"])
    return {
        "delivery_id": delivery_id,
        "dataset": dataset.id,
        "scope": scope,
        "rows_validated": sample.num_rows,
        **{k: summary[k] for k in ("suite", "success", "block_success", "evaluated", "failed")},
        "data_docs": str(index),
        **{what: str(path) for what, path in written.items()},
    }


def validate_pending(dataset: str | None = None, *, eng: Engine | None = None) -> dict[str, Any]:
    """Every loaded delivery whose GX report is pending (of ``dataset``), oldest first."""
    eng = eng or default_engine()
    with eng.connect() as conn:
        ids = ledger.gx_pending(conn, dataset)
    return {"validated": [validate_delivery(i, eng=eng) for i in ids]}


def validate_deliveries(ids: list[int], *, eng: Engine | None = None) -> dict[str, Any]:
    """Of ``ids``, the deliveries whose report is pending, validated (a done one is skipped)."""
    eng = eng or default_engine()
    with eng.connect() as conn:
        pending = set(ledger.gx_pending(conn, None, ids))
    return {"validated": [validate_delivery(i, eng=eng) for i in ids if i in pending]}


# --- the sample, read back ---------------------------------------------------------------------


def _as_text(column: str, kind: ColumnType) -> str:
    c = quote(column)
    if kind == ColumnType.timestamp:
        return _TIMESTAMP_TEXT.format(c=c) + f" as {c}"
    if kind == ColumnType.date:
        return _DATE_TEXT.format(c=c) + f" as {c}"
    return f"cast({c} as text) as {c}"


def read_sample(conn: Connection, dataset: Dataset, delivery_id: int, limit: int) -> pa.Table:
    """The first ``limit + 1`` rows of the delivery by row number, parsed as at ingest.

    One ``COPY … TO STDOUT (format csv)``: the accepted rows as text in the forms ingest reads,
    the quarantined rows as delivered; bounded by ``limit`` (never the whole delivery).
    """
    names = [c.name for c in dataset.columns]
    text = sql(
        "ingest",
        "gx_sample.sql",
        pool=pool_table(dataset),
        delivery_id=str(int(delivery_id)),
        rows=str(int(limit) + 1),
        accepted_columns=", ".join(_as_text(c.name, c.type) for c in dataset.columns),
        quarantined_columns=", ".join(f"raw ->> '{n}' as {quote(n)}" for n in names),
    )
    buffer = io.BytesIO()
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"copy ({text}) to stdout (format csv)") as copy:
        for block in copy:
            buffer.write(block)
    if not buffer.tell():
        return pa.table({n: pa.array([], pa.string()) for n in names}).slice(0, 0)
    buffer.seek(0)
    raw = pv.read_csv(
        buffer,
        read_options=pv.ReadOptions(column_names=["_row_number", *names]),
        convert_options=pv.ConvertOptions(
            column_types={n: pa.string() for n in names} | {"_row_number": pa.int64()},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    return parse_batch(raw.drop_columns(["_row_number"]), dataset).table
