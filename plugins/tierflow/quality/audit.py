"""Responsibility audit: which deliveries were due and on time, late, missing or rejected,
per department, and quarantine rates over time.

Every path judges with :func:`judge`: the calendar of ``tierflow.quality.calendar`` (which
due date a delivery dated D counts for, the grace) and one statement,
``sql/quality/delivery_outcomes.sql``. ``audit_deliveries`` (``tierflow audit``, the audit
DAG) stores the outcomes in ``quality.delivery_audit``; the operations console shows the
same outcomes live (``tierflow.ui.queries.delivery_audit``). Due instants still in the
future are not judged yet.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from tierflow.clock import SHANGHAI, today
from tierflow.contracts import Catalog, catalog
from tierflow.db import engine as default_engine
from tierflow.errors import TierflowError
from tierflow.quality.calendar import Due, expected_deliveries, grace
from tierflow.sql_files import statement

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)


class LateDeliveries(TierflowError):
    """Raised by the audit DAG's check so its failure callback raises the alert."""


def judge(conn: Connection, dues: list[Due]) -> list[dict[str, Any]]:
    """Each due delivery's outcome: on_time, late, missing or rejected, with what arrived."""
    if not dues:
        return []
    rows = conn.execute(
        statement("quality", "delivery_outcomes"),
        {
            "datasets": [d.dataset for d in dues],
            "departments": [d.department for d in dues],
            "frequencies": [d.frequency for d in dues],
            "period_starts": [d.period_start for d in dues],
            "period_ends": [d.period_end for d in dues],
            "due_ats": [d.due_at for d in dues],
            "grace_minutes": int(grace().total_seconds() // 60),
        },
    )
    return [dict(r) for r in rows.mappings()]


def due_by(cat: Catalog, start: dt.date, end: dt.date, now: dt.datetime) -> list[Due]:
    """The deliveries due on a day in [start, end] whose due instant has passed at ``now``."""
    return [d for d in expected_deliveries(cat, start, end) if d.due_at <= now]


def audit_deliveries(
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    now: dt.datetime | None = None,
    eng: Engine | None = None,
    cat: Catalog | None = None,
) -> dict[str, Any]:
    """Judge every delivery due in [start, end] (default: yesterday) and store the outcome."""
    eng = eng or default_engine()
    now = now or dt.datetime.now(SHANGHAI)
    end = end or today() - dt.timedelta(days=1)
    start = start or end
    with eng.begin() as conn:
        outcomes = judge(conn, due_by(cat or catalog(), start, end, now))
        for outcome in outcomes:
            conn.execute(statement("quality", "audit_store"), outcome)
        conn.execute(statement("quality", "quarantine_rate"))
    problems = [o for o in outcomes if o["outcome"] != "on_time"]
    count = {k: sum(o["outcome"] == k for o in outcomes) for k in ("on_time", "late", "missing")}
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "due": len(outcomes),
        **count,
        "rejected": sum(o["outcome"] == "rejected" for o in outcomes),
        "outcomes": [
            {
                "dataset": o["dataset"],
                "department": o["department"],
                "due_at": o["due_at"].isoformat(),
                "status": o["outcome"],
                "delivery_id": o["delivery_id"],
                "late_seconds": o["late_seconds"],
            }
            for o in outcomes
        ],
        "problems": [
            {
                "dataset": o["dataset"],
                "department": o["department"],
                "due_at": o["due_at"].isoformat(),
                "status": o["outcome"],
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
            for r in conn.execute(
                statement("quality", "audit_summary"), {"start": start, "end": end}
            )
        ]
        recent = [
            dict(r._mapping)
            for r in conn.execute(
                statement("quality", "audit_problems"),
                {"s": start, "e": end},
            )
        ]
        rates = [
            dict(r._mapping)
            for r in conn.execute(
                statement("quality", "quarantine_rates"),
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
            statement("quality", "record_alert"),
            {"k": kind, "d": json.dumps(detail, default=str, ensure_ascii=False)},
        )


def check_deliveries(result: dict[str, Any]) -> None:
    """Raise LateDeliveries when an audit found late or missing deliveries."""
    if result["late"] or result["missing"] or result["rejected"]:
        names = ", ".join(f"{p['dataset']} {p['status']}" for p in result["problems"][:10])
        raise LateDeliveries(
            f"{result['late']} late, {result['missing']} missing, {result['rejected']} rejected:"
            f" {names}"
        )


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
