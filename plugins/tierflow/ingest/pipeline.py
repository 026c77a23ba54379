"""Ingest one delivered file: read → check → write → record.

One transaction per delivery, serialised per dataset by an advisory lock: either the whole
delivery is in the pool with its quality records, or nothing is (a rejected file leaves
only its ``rejected`` ledger row). Invariant everywhere: ``rows_in = accepted + quarantined``.

- read: ``ingest.readers`` streams the file as Arrow batches, one step ahead (``ingest.ahead``);
- check: ``ingest.check`` parses and runs the rules' masks (they gate the rows);
- write: ``ingest.writer.DeliveryWriter`` owns the delivery's partition and quarantine;
- record: ``quality.ledger`` owns the delivery's row in ``quality.delivery``.

Great Expectations is not in the load: with ``run_gx`` the delivery's GX report (result and
Data Docs) is left ``pending`` for the step after it (``ingest.gx.validate_delivery``; the ingest
DAG's ``gx_report`` task, ``tierflow quality validate``), which reads the delivery back. The
load imports neither GX nor pandas: a small delivery's fresh process is its own cost only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from tierflow import config, locks
from tierflow.checks.rules import RuleContext
from tierflow.contracts import Catalog, Dataset, catalog
from tierflow.db import engine as default_engine
from tierflow.divisions import official_township_prefixes
from tierflow.faults import checkpoint
from tierflow.ingest.ahead import read_ahead
from tierflow.ingest.check import Checker, Tally
from tierflow.ingest.readers import DeliveryRejected, FileInfo, RawBatch, open_delivery
from tierflow.ingest.writer import DeliveryWriter, complete_quarantine_file
from tierflow.pool import ensure_pool_table
from tierflow.quality import ledger
from tierflow.quality.ledger import DeliveredFile, LoadOutcome

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection, Engine

_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def ingest_file(
    path: Path | str,
    dataset_id: str,
    *,
    eng: Engine | None = None,
    cat: Catalog | None = None,
    now: dt.datetime | None = None,
    run_gx: bool = True,
) -> dict[str, Any]:
    """Ingest one delivered file into ``pool.<dataset>``; returns the delivery's summary (design §8).

    ``run_gx``: leave the delivery's GX report pending in the ledger (written after the load).
    """
    cat = cat or catalog()
    dataset = cat.dataset(dataset_id)
    eng = eng or default_engine()
    delivered = _delivered(Path(path), dataset)
    info, stream = _read(eng, delivered, dataset)
    tally = Tally()
    writer: DeliveryWriter | None = None
    try:
        with eng.begin() as conn:
            locks.hold_for_transaction(conn, locks.ingest_lock(dataset.id))
            previous = ledger.already_loaded(conn, dataset.id, delivered.sha256)
            if previous is not None:
                complete_quarantine_file(previous.get("quarantine_path"))
                return _summary(previous, duplicate_of=previous["delivery_id"], loaded_now=False)
            checker = Checker(dataset, _rule_context(conn, cat, now), tally)
            writer = _start_writing(conn, dataset, delivered, info)
            _write(writer, checker, stream)
            tally.count_lines(info.file_format, writer.quarantined_lines)
            superseded = writer.finish()
            writer.attach()
            row = _record(conn, writer, tally, superseded, info, gx_pending=run_gx)
        checkpoint("ingest.after_commit")
        writer.publish()
    except BaseException as exc:
        if writer is not None:
            writer.discard()
        if isinstance(exc, DeliveryRejected):  # found mid-file: the load rolled back; keep it
            ledger.record_rejection(eng, delivered, str(exc))
        raise
    return _loaded_summary(row, info, tally)


# --- read ------------------------------------------------------------------------------------


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def delivery_date_of(path: Path) -> dt.date | None:
    """``landing/<department>/<dataset>/<YYYY-MM-DD>/<file>``: the folder names the delivery date."""
    name = path.parent.name
    return dt.date.fromisoformat(name) if _DATE_DIR.match(name) else None


def _delivered(path: Path, dataset: Dataset) -> DeliveredFile:
    if not path.is_file():
        raise DeliveryRejected(f"{path}: no such file")
    sha, size = file_digest(path)
    return DeliveredFile(dataset.id, dataset.department, path, sha, size, delivery_date_of(path))


def _read(
    eng: Engine, delivered: DeliveredFile, dataset: Dataset
) -> tuple[FileInfo, Iterator[RawBatch]]:
    """The file's facts and its batches; a file refused at the door is recorded as rejected."""
    try:
        return open_delivery(delivered.path, dataset)
    except DeliveryRejected as exc:
        ledger.record_rejection(eng, delivered, str(exc))
        raise


# --- check and write -------------------------------------------------------------------------


def _rule_context(conn: Connection, cat: Catalog, now: dt.datetime | None) -> RuleContext:
    return RuleContext(
        tuple(d.code for d in cat.divisions.divisions),
        tuple(sorted(official_township_prefixes(conn))),
        now or dt.datetime.now(dt.UTC),
    )


def _quarantine_file(delivered: DeliveredFile, delivery_id: int) -> Path:
    day = delivered.delivery_date or dt.date.today()
    name = f"{delivery_id}-{delivered.path.stem}.parquet"
    return config.quarantine_dir() / delivered.dataset / str(day) / name


def _start_writing(
    conn: Connection, dataset: Dataset, delivered: DeliveredFile, info: FileInfo
) -> DeliveryWriter:
    """The delivery opened in the ledger (``loading``) and its partition created."""
    ensure_pool_table(conn, dataset)
    delivery_id = ledger.open_delivery(
        conn, delivered, file_format=info.file_format, encoding=info.encoding
    )
    writer = DeliveryWriter(conn, dataset, delivery_id, _quarantine_file(delivered, delivery_id))
    return writer.create()


def _write(writer: DeliveryWriter, checker: Checker, stream: Iterator[RawBatch]) -> None:
    """Every batch: its accepted rows copied, its blocked rows and broken lines quarantined.

    Batches are checked on the read-ahead thread, which touches only the per-rule tallies and
    the warned count; this thread keeps the row counts.
    """
    tally = checker.tally
    for batch, checked in read_ahead((b, checker.check(b)) for b in stream):
        blocked = checked.blocked
        tally.rows_in += checked.table.num_rows + len(batch.bad_lines)
        tally.normalised += int((checked.normalised & ~blocked).sum())
        accepted = checked.table.filter(pa.array(~blocked))
        writer.copy(accepted.add_column(0, "_row_number", pa.array(batch.row_numbers[~blocked])))
        if blocked.any():
            raw = batch.table.filter(pa.array(blocked))
            writer.quarantine(raw, batch.row_numbers[blocked], checked.reasons())
        if batch.bad_lines:  # few by nature: one object per broken line is fine here
            writer.quarantine_lines(
                np.array([b.row_number for b in batch.bad_lines], dtype=np.int64),
                pa.array([b.reason for b in batch.bad_lines], pa.string()),
                pa.array([b.text for b in batch.bad_lines], pa.string()),
            )


# --- record ----------------------------------------------------------------------------------


def _record(
    conn: Connection,
    writer: DeliveryWriter,
    tally: Tally,
    superseded: int,
    info: FileInfo,
    *,
    gx_pending: bool,
) -> dict[str, Any]:
    """The delivery's expectation results and its ledger row, checked before the commit."""
    ledger.store_expectation_results(conn, writer.delivery_id, tally.results())
    if tally.rows_in != writer.accepted + writer.quarantined:
        raise RuntimeError(
            f"row accounting broken: {tally.rows_in} != {writer.accepted} + {writer.quarantined}"
        )
    outcome = LoadOutcome(
        rows_in=tally.rows_in,
        accepted=writer.accepted,
        quarantined=writer.quarantined,
        superseded=superseded,
        warned=tally.warned,
        normalised=tally.normalised,
        extra_columns=info.extra_columns,
        suite_success=tally.suite_success,
        gx_pending=gx_pending,
        quarantine_path=writer.quarantine_file,
    )
    return ledger.finish_delivery(conn, writer.delivery_id, outcome)


def _summary(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "dataset": row["dataset"],
        "delivery_id": row["delivery_id"],
        "file": row["file_path"],
        "format": row["file_format"],
        "encoding": row["encoding"],
        "rows_in": row["rows_in"],
        "rows_accepted": row["rows_accepted"],
        "rows_quarantined": row["rows_quarantined"],
        "rows_superseded": row["rows_superseded"],
        "rows_warned": row["rows_warned"],
        "rows_normalised": row["rows_normalised"],
        "extra_columns": row["extra_columns"],
        "quarantine": row["quarantine_path"],
        "suite_success": row["suite_success"],
        "gx_report": row["gx_status"],
        **extra,
    }


def _loaded_summary(row: dict[str, Any], info: FileInfo, tally: Tally) -> dict[str, Any]:
    result = _summary(row, loaded_now=True, missing_optional_columns=info.missing_optional)
    result["expectations"] = [
        {
            "rule_id": r.rule_id,
            "severity": r.severity.value,
            "evaluated": r.evaluated,
            "failed": r.failed,
        }
        for r in tally.rules.values()
        if r.failed
    ]
    return result
