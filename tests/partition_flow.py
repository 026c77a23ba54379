"""Helpers of the partition tests under the real scheduler (tests/airflow/test_stack.py):
what is on disk and in ``feed.run`` before and after a run, and waiting for the chain to rest."""

from __future__ import annotations

import hashlib
import shutil
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tests.review_flow import wait

if TYPE_CHECKING:
    import datetime as dt
    from pathlib import Path

CHAIN = ("merge__person", "merge__legal_entity", "sink__districts", "aggregate__tiers")
FINISHED = ("success", "failed")


def files(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: relative path → (sha256, inode). The inode tells a file
    rewritten with the same bytes from one left alone."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (digest, path.stat().st_ino)
    return found


def feed_runs(warehouse: sa.Engine, home: Path) -> set[tuple]:
    """This stack's ``feed.run`` rows (the session's warehouse holds other tests' too)."""
    with warehouse.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select run_id, consumer_id, feed_name, watermark_from, watermark_to, row_count,"
                " path, status, kind from feed.run where path like :home"
            ),
            {"home": f"{home}/%"},
        ).all()
    return {tuple(r) for r in rows}


def pending(api: Any, dag_id: str) -> list[dict[str, Any]]:
    query = f"/ui/partitioned_dag_runs?dag_id={dag_id}&has_created_dag_run_id=false"
    return api.call("GET", query)["partitioned_dag_runs"]


def at_rest(api: Any, logs: Path, timeout: float = 600) -> None:
    """Every run of the chain finished and none about to start (the aggregate may hold a part
    of its districts: that is not a run)."""

    def resting() -> bool:
        for dag_id in CHAIN:
            runs = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=200")["dag_runs"]
            if any(r["state"] not in FINISHED for r in runs):
                return False
            waiting = pending(api, dag_id)
            if dag_id == "aggregate__tiers":
                waiting = [p for p in waiting if p["total_received"] >= p["total_required"]]
            if waiting:
                return False
        return True

    wait(resting, timeout, "the chain to rest", logs, 5)


def runs_of(api: Any, dag_id: str) -> list[dict[str, Any]]:
    return api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=200")["dag_runs"]


def finished(api: Any, dag_id: str, run_id: str, logs: Path, timeout: float = 600) -> str:
    def done() -> str | None:
        state = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        return state if state in FINISHED else None

    return wait(done, timeout, f"{dag_id} {run_id}", logs, 3)


def deliver(landing: Path, dataset: str, day: dt.date, seed: int, scratch: Path) -> Path:
    """A new delivery of ``dataset`` for ``day``, dropped into ``landing`` as a department
    does: the file first, its ``.ready`` marker last. Returns the file."""
    from tierflow.generate import generate

    out = scratch / f"{day}-{seed}"
    generate(out=out, scale=40, seed=seed, as_of=day, datasets=[dataset])
    department, name = dataset.split(".", 1)
    (source,) = [p for p in (out / "landing" / department / name / day.isoformat()).iterdir()
                 if not p.name.endswith(".ready")]  # fmt: skip
    target = landing / department / name / day.isoformat()
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target / source.name)
    shutil.copy2(source.with_name(source.name + ".ready"), target / (source.name + ".ready"))
    return target / source.name


def asset_events(api: Any, query: str, logs: Path, timeout: float = 300) -> list[dict[str, Any]]:
    """``GET /api/v2/assets/events?QUERY``, asked again while it answers 500: Airflow 3.3.2
    cannot serialise an event whose created run is still queued (``created_dagruns[].start_date``
    is None, the response model requires it), until that run starts."""
    import urllib.error

    def answer() -> list[dict[str, Any]] | None:
        try:
            return api.call("GET", f"/api/v2/assets/events?{query}")["asset_events"]
        except urllib.error.HTTPError as exc:
            if exc.code != 500:
                raise
            return None

    return wait(answer, timeout, f"asset events {query}", logs, 3)
