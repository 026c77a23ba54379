"""Responsibility audit: which deliveries were due and missing or late, per department,
and quarantine rates over time; stored in ``quality.delivery_audit`` and
``quality.quarantine_rate`` and summarised by ``audit_report``.

A due delivery (from the responsibility list's calendar, ``tierflow.lists``) is met by
the first loaded delivery dated within its period: on time if it arrived by the due
instant, late otherwise; missing when none arrived. Due instants still in the future are
not judged yet.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from importlib.resources import files
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tierflow.contracts import catalog
from tierflow.db import engine as default_engine
from tierflow.errors import TierflowError
from tierflow.lists import SHANGHAI, expected_deliveries, today

log = logging.getLogger(__name__)
SQL = files("tierflow") / "sql" / "aggregate"


class LateDeliveries(TierflowError):
    """Raised by the audit DAG's check so its failure callback raises the alert."""


def _sql(name: str) -> str:
    return (SQL / name).read_text(encoding="utf-8")


def audit_deliveries(
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    now: dt.datetime | None = None,
    eng: Engine | None = None,
) -> dict[str, Any]:
    """Judge every delivery due in [start, end] (default: yesterday) and store the outcome."""
    eng = eng or default_engine()
    now = now or dt.datetime.now(SHANGHAI)
    end = end or today() - dt.timedelta(days=1)
    start = start or end
    due = [d for d in expected_deliveries(catalog(), start, end) if d.due_at <= now]
    outcomes = []
    with eng.begin() as conn:
        if due:
            period_start = min(d.period_start for d in due)
            delivered = conn.execute(
                sa.text(_sql("audit_deliveries.sql")),
                {"period_start": period_start, "period_end": end},
            ).all()
        else:
            delivered = []
        for item in due:
            first = next(
                (
                    r
                    for r in delivered
                    if r.dataset == item.dataset
                    and item.period_start <= r.delivered_for <= item.period_end
                ),
                None,
            )
            if first is None:
                status, late_by = "missing", None
            else:
                late_by = int((first.started_at - item.due_at).total_seconds())
                status = "on_time" if late_by <= 0 else "late"
            outcome = {
                "dataset": item.dataset,
                "department": item.department,
                "frequency": item.frequency,
                "due_at": item.due_at,
                "period_start": item.period_start,
                "period_end": item.period_end,
                "status": status,
                "delivery_id": first.delivery_id if first else None,
                "delivered_at": first.started_at if first else None,
                "late_seconds": max(late_by, 0) if late_by is not None else None,
            }
            conn.execute(sa.text(_sql("audit_store.sql")), outcome)
            outcomes.append(outcome)
        conn.execute(sa.text(_sql("quarantine_rate.sql")))
    problems = [o for o in outcomes if o["status"] != "on_time"]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "due": len(outcomes),
        "on_time": sum(o["status"] == "on_time" for o in outcomes),
        "late": sum(o["status"] == "late" for o in outcomes),
        "missing": sum(o["status"] == "missing" for o in outcomes),
        "problems": [
            {
                "dataset": o["dataset"],
                "department": o["department"],
                "due_at": o["due_at"].isoformat(),
                "status": o["status"],
                "late_seconds": o["late_seconds"],
            }
            for o in problems
        ],
    }


def audit_report(
    days: int = 30, *, end: dt.date | None = None, eng: Engine | None = None
) -> dict[str, Any]:
    """Per department over the last ``days`` audited days: due/on time/late/missing, quarantine rate."""
    eng = eng or default_engine()
    end = end or today()
    start = end - dt.timedelta(days=days - 1)
    with eng.connect() as conn:
        departments = [
            dict(r._mapping)
            for r in conn.execute(sa.text(_sql("audit_summary.sql")), {"start": start, "end": end})
        ]
        recent = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "select dataset, department, due_at, status, late_seconds from quality.delivery_audit"
                    " where status <> 'on_time' and period_end between :s and :e"
                    " order by due_at desc, dataset limit 50"
                ),
                {"s": start, "e": end},
            )
        ]
        rates = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "select department, dataset, day, rows_in, rows_quarantined, rate"
                    " from quality.quarantine_rate where day between :s and :e order by day, dataset"
                ),
                {"s": start, "e": end},
            )
        ]
    for row in recent:
        row["due_at"] = row["due_at"].isoformat()
    for row in rates:
        row["day"] = row["day"].isoformat()
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "departments": departments,
        "late_or_missing": recent,
        "quarantine_rates": rates,
    }


def record_alert(kind: str, detail: dict[str, Any], *, eng: Engine | None = None) -> None:
    """Log an alert and keep it in quality.audit_alert (issue 6 adds notifiers on top)."""
    log.warning("tierflow alert %s: %s", kind, json.dumps(detail, default=str, ensure_ascii=False))
    eng = eng or default_engine()
    with eng.begin() as conn:
        conn.execute(
            sa.text(
                "insert into quality.audit_alert (kind, detail) values (:k, cast(:d as jsonb))"
            ),
            {"k": kind, "d": json.dumps(detail, default=str, ensure_ascii=False)},
        )


def check_deliveries(result: dict[str, Any]) -> None:
    """Raise LateDeliveries when an audit found late or missing deliveries."""
    if result["late"] or result["missing"]:
        names = ", ".join(f"{p['dataset']} {p['status']}" for p in result["problems"][:10])
        raise LateDeliveries(f"{result['late']} late, {result['missing']} missing: {names}")


def late_delivery_callback(context: dict[str, Any]) -> None:
    """Airflow on_failure_callback of the audit check: record the alert."""
    ti = context.get("ti") or context.get("task_instance")
    record_alert(
        "late_deliveries",
        {
            "dag_id": getattr(ti, "dag_id", None),
            "run_id": getattr(ti, "run_id", None),
            "task_id": getattr(ti, "task_id", None),
            "error": str(context.get("exception") or ""),
        },
    )
