"""The delivery ledger: every statement that writes ``quality.delivery`` (and a delivery's
``quality.expectation_result`` rows), SQL in ``sql/quality/``.

Ingest opens a delivery (``loading``), finishes it (``loaded``) in the transaction that put its
rows in the pool, or records a refused file (``rejected``) in a transaction of its own, so a
refusal is kept even when the load that found it rolled back. A loaded delivery's GX report
(``gx_status``) is ``pending`` from that commit until ``tierflow.ingest.gx`` records it ``done``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tierflow.sql_files import sql

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from sqlalchemy.engine import Connection, Engine


@dataclass(frozen=True)
class DeliveredFile:
    """What the ledger knows of a delivered file before reading it."""

    dataset: str
    department: str
    path: Path
    sha256: str
    size: int
    delivery_date: dt.date | None


@dataclass(frozen=True)
class LoadOutcome:
    """A finished load's counts and verdict (``rows_in = accepted + quarantined``)."""

    rows_in: int
    accepted: int
    quarantined: int
    superseded: int
    warned: int
    normalised: int
    extra_columns: Sequence[str]
    suite_success: bool
    gx_pending: bool  # a GX report is to be written for it (the step after the load)
    quarantine_path: Path | None


@dataclass(frozen=True)
class ExpectationResult:
    rule_id: str
    expectation_type: str
    column_name: str | None
    severity: str
    evaluated: int
    failed: int

    @property
    def pass_rate(self) -> float:
        return 1.0 if self.evaluated == 0 else 1.0 - self.failed / self.evaluated


def _statement(name: str) -> sa.TextClause:
    return sa.text(sql("quality", name))


def _open(
    conn: Connection,
    delivered: DeliveredFile,
    *,
    file_format: str,
    encoding: str | None,
    status: str,
    error: str | None,
) -> int:
    values = dict(
        dataset=delivered.dataset,
        department=delivered.department,
        path=str(delivered.path),
        sha=delivered.sha256,
        size=delivered.size,
        fmt=file_format,
        enc=encoding,
        date=delivered.delivery_date,
        status=status,
        error=error,
    )
    return int(conn.execute(_statement("delivery_open.sql"), values).scalar_one())


def open_delivery(
    conn: Connection, delivered: DeliveredFile, *, file_format: str, encoding: str | None
) -> int:
    """A ``loading`` row for the load this transaction runs; returns its delivery id."""
    return _open(
        conn, delivered, file_format=file_format, encoding=encoding, status="loading", error=None
    )


def record_rejection(eng: Engine, delivered: DeliveredFile, error: str) -> None:
    """A finished ``rejected`` row, committed on its own."""
    fmt = delivered.path.suffix.lstrip(".") or "unknown"
    with eng.begin() as conn:
        _open(conn, delivered, file_format=fmt, encoding=None, status="rejected", error=error)


def already_loaded(conn: Connection, dataset: str, sha256: str) -> dict[str, Any] | None:
    """The loaded delivery of the same content for the dataset, if there is one."""
    row = (
        conn.execute(_statement("delivery_already_loaded.sql"), {"dataset": dataset, "sha": sha256})
        .mappings()
        .first()
    )
    return dict(row) if row else None


def finish_delivery(conn: Connection, delivery_id: int, outcome: LoadOutcome) -> dict[str, Any]:
    """Mark the delivery ``loaded`` with its counts; returns its ledger row."""
    values = dict(
        delivery_id=delivery_id,
        rows_in=outcome.rows_in,
        accepted=outcome.accepted,
        quarantined=outcome.quarantined,
        superseded=outcome.superseded,
        warned=outcome.warned,
        normalised=outcome.normalised,
        extra=json.dumps(list(outcome.extra_columns), ensure_ascii=False),
        suite_success=outcome.suite_success,
        gx_pending=outcome.gx_pending,
        quarantine_path=str(outcome.quarantine_path) if outcome.quarantine_path else None,
    )
    return dict(conn.execute(_statement("delivery_loaded.sql"), values).mappings().one())


def delivery(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    """One delivery's ledger row, if there is one."""
    row = conn.execute(_statement("delivery_by_id.sql"), {"delivery_id": delivery_id})
    found = row.mappings().first()
    return dict(found) if found else None


def gx_pending(
    conn: Connection, dataset: str | None = None, ids: Sequence[int] | None = None
) -> list[int]:
    """Loaded deliveries whose GX report is pending (of ``dataset``, among ``ids``), oldest first."""
    params = {"dataset": dataset, "ids": list(ids) if ids is not None else None}
    return [int(i) for i in conn.scalars(_statement("gx_pending.sql"), params)]


def record_gx_report(
    conn: Connection, delivery_id: int, *, scope: str, success: bool | None
) -> None:
    """The delivery's GX report written: ``done``, with its scope and GX's verdict."""
    values = {"delivery_id": delivery_id, "gx_scope": scope, "gx_success": success}
    if conn.execute(_statement("gx_report_done.sql"), values).first() is None:
        raise RuntimeError(f"delivery {delivery_id} is not loaded: no GX report recorded")


def store_expectation_results(
    conn: Connection, delivery_id: int, results: Iterable[ExpectationResult]
) -> None:
    rows = [
        dict(
            delivery_id=delivery_id,
            rule_id=r.rule_id,
            expectation_type=r.expectation_type,
            column_name=r.column_name,
            severity=r.severity,
            evaluated=r.evaluated,
            failed=r.failed,
            pass_rate=r.pass_rate,
        )
        for r in results
    ]
    if rows:
        conn.execute(_statement("expectation_results_store.sql"), rows)


def files_seen(conn: Connection, dataset: str, files: list[str]) -> set[str]:
    """Of ``files``, those an earlier run loaded or rejected (they are not offered again)."""
    found = conn.scalars(
        _statement("delivery_files_seen.sql"), {"dataset": dataset, "files": files}
    )
    return set(found)
