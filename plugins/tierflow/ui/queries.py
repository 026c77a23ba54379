"""What the "Data quality & deliveries" pages show, read from the warehouse.

Every function takes an engine and returns plain dicts, so the pages, the JSON endpoint and the
tests read the same figures. SQL lives in ``tierflow/sql/ui``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierflow.clock import SHANGHAI, today
from tierflow.quality.audit import due_by, judge
from tierflow.quality.calendar import grace
from tierflow.sharing.store import has_lists
from tierflow.sql_files import statement

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine

    from tierflow.contracts import Catalog

LOCAL = SHANGHAI  # the pages format times in the platform's zone


def _sql(name: str) -> sa.TextClause:
    return statement("ui", name)


def _rows(eng: Engine, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with eng.connect() as conn:
        return [dict(r) for r in conn.execute(_sql(name), params).mappings()]


# --- per dataset -----------------------------------------------------------------------------


def pass_rates(eng: Engine, since: dt.date) -> dict[str, list[dict[str, Any]]]:
    """Per dataset, one point per delivery day since ``since``: rows in/accepted, pass rate."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in _rows(eng, "pass_rates", {"since": since}):
        series[row.pop("dataset")].append(row)
    return dict(series)


def quarantine_reasons(eng: Engine, top: int = 8) -> dict[str, dict[str, Any]]:
    """Per dataset, its latest loaded delivery and the ``top`` rules that quarantined rows in it."""
    latest: dict[str, dict[str, Any]] = {}
    for row in _rows(eng, "quarantine_reasons", {}):
        entry = latest.setdefault(
            row["dataset"],
            {
                "delivery_id": row["delivery_id"],
                "delivery_date": row["delivery_date"],
                "rows_in": row["rows_in"],
                "rows_quarantined": row["rows_quarantined"],
                "reasons": [],
            },
        )
        if row["reason"] is not None and len(entry["reasons"]) < top:
            entry["reasons"].append({"reason": row["reason"], "rows": row["rows"]})
    return latest


# --- per department: the responsibility list against quality.delivery -------------------------


def delivery_audit(
    eng: Engine,
    cat: Catalog,
    *,
    days: int = 14,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Per department: on-time / late / missing / rejected counts and the late or missing items.

    The same judgement as ``tierflow audit`` (``tierflow.quality.audit.judge``) over the
    deliveries due in the last ``days`` days up to ``now``.
    """
    now = now or dt.datetime.now(dt.UTC)
    last = now.astimezone(SHANGHAI).date()
    with eng.connect() as conn:
        rows = judge(conn, due_by(cat, last - dt.timedelta(days=days), last, now))
    owners = {d.department: d.owner for d in cat.datasets}
    departments: dict[str, dict[str, Any]] = {}
    for entry in cat.responsibility.responsibilities:
        departments.setdefault(
            entry.department,
            {
                "department": entry.department,
                "owner": owners.get(entry.department, entry.department),
                "datasets": [],
                "on_time": 0,
                "late": 0,
                "missing": 0,
                "rejected": 0,
                "problems": [],
            },
        )["datasets"].append(entry.dataset)
    for row in rows:
        dept = departments[row["department"]]
        dept[row["outcome"]] += 1
        if row["outcome"] != "on_time":
            dept["problems"].append(row)
    return {
        "days": days,
        "grace_minutes": int(grace().total_seconds() // 60),
        "now": now,
        "departments": sorted(departments.values(), key=lambda d: d["department"]),
        "outcomes": [
            {"dataset": r["dataset"], "due_at": r["due_at"], "status": r["outcome"]} for r in rows
        ],
    }


# --- per pilot district: feed.run / feed.watermark ---------------------------------------------


def _bytes_on_disk(paths: list[str]) -> int | None:
    """Total size of the feed folders when they are local; None for object-store paths."""
    total = 0
    found = False
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            continue
        found = True
        if path.is_file():
            total += path.stat().st_size
        else:
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total if found else None


def district_feeds(eng: Engine, cat: Catalog) -> list[dict[str, Any]]:
    """One row per pilot district: its consumer(s), last feed run, size, acknowledgement."""
    consumers: dict[str, list[str]] = defaultdict(list)
    for consumer in cat.demand.consumers:
        if consumer.kind == "district" and consumer.division_code:
            consumers[consumer.division_code].append(consumer.id)
    all_ids = [cid for ids in consumers.values() for cid in ids]
    runs = {r["consumer_id"]: r for r in _rows(eng, "district_feeds", {"consumers": all_ids})}
    result: list[dict[str, Any]] = []
    for division in cat.divisions.divisions:
        if not division.is_pilot:
            continue
        ids = consumers.get(division.code, [])
        latest = [runs[c] for c in ids if c in runs]
        run = max(latest, key=lambda r: r["published_at"], default=None)
        result.append(
            {
                "division_code": division.code,
                "name": division.name,
                "consumers": ids,
                "run_id": run["run_id"] if run else None,
                "published_at": run["published_at"] if run else None,
                "feeds": run["feeds"] if run else 0,
                "feed_names": run["feed_names"] if run else [],
                "rows": run["rows"] if run else None,
                "bytes": _bytes_on_disk(run["paths"]) if run else None,
                "acknowledged_feeds": run["acknowledged_feeds"] if run else 0,
                "acknowledged": bool(run) and run["acknowledged_feeds"] == run["feeds"],
                "acked_at": run["acked_at"] if run else None,
            }
        )
    return result


# --- the online lists: sharing.demand, sharing.negative_entry ----------------------------------

DEMAND_STATUSES = ("pending", "approved", "expired", "revoked", "rejected")
EXPIRING_DAYS = 30  # "approvals expiring within 30 days" (issue #17)


def lists_overview(
    eng: Engine, *, on: dt.date | None = None, within: int = EXPIRING_DAYS
) -> dict[str, Any]:
    """The demand list by status (who asked, who decided, why), the approvals whose last valid
    day falls within ``within`` days of ``on`` (default today), and the negative list."""
    on = on or today()
    demands = _rows(eng, "lists_demands", {"today": on, "within": within})
    with eng.connect() as conn:
        online = has_lists(conn)
    by_status: dict[str, list[dict[str, Any]]] = {s: [] for s in DEMAND_STATUSES}
    for row in demands:
        row["fields"], row["pseudonymise"] = list(row["fields"]), list(row["pseudonymise"])
        by_status[row["status"]].append(row)
    return {
        "as_of": on,
        "online": online,
        "expiring_within_days": within,
        "counts": {s: len(rows) for s, rows in by_status.items()},
        "demands": by_status,
        "expiring": [r for r in demands if r["expiring"]],
        "negative": _rows(eng, "lists_negative", {}),
    }
