"""``sink``: per pilot district, per demanded feed, an incremental feed published atomically.

For each (district, feed) the run's window is fixed first and recorded in ``feed.run``
(from the district's acknowledged watermark to the source's latest change); the rows are
then the versions of that window read from type-2 history, so re-running a run id selects
the same rows and writes the same bytes, whatever changed since. ``ack_feed`` moves the
district's watermark to the end of an acknowledged run's windows.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tierflow import config, locks
from tierflow.contracts import Catalog, catalog
from tierflow.db import engine as default_engine
from tierflow.errors import TierflowError
from tierflow.lists import district_consumer, today
from tierflow.masking import consumer_key, pseudonym_secret
from tierflow.sink.extract import extract, latest_version
from tierflow.sink.plan import FeedPlan, plan_feeds
from tierflow.sink.publish import publish_table
from tierflow.sink.verify import verify_feed

log = logging.getLogger(__name__)
_RUN_ID = re.compile(r"[^A-Za-z0-9._-]+")
FORMAT = "tierflow-feed/1"


def safe_run_id(run_id: str) -> str:
    """A run id usable as a directory name (Airflow's contain ':' and '+')."""
    cleaned = _RUN_ID.sub("_", run_id).strip("._")
    if not cleaned:
        raise TierflowError(f"run id {run_id!r} has no usable characters")
    return cleaned


def default_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def feed_path(division_code: str, feed: str, run_id: str) -> Path:
    return config.feeds_dir() / division_code / feed / run_id


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def sync_consumers(eng: Engine, cat: Catalog) -> None:
    """feed.consumer mirrors the demand list's consumers (the pull views read clearances there)."""
    rows = [
        dict(id=c.id, kind=c.kind, code=c.division_code, clearance=c.clearance)
        for c in cat.demand.consumers
    ]
    with eng.begin() as conn:
        conn.execute(
            sa.text(
                "insert into feed.consumer (consumer_id, kind, division_code, clearance)"
                " values (:id, :kind, :code, :clearance) on conflict (consumer_id) do update"
                " set kind = excluded.kind, division_code = excluded.division_code,"
                " clearance = excluded.clearance"
            ),
            rows,
        )


def _run_as_of(eng: Engine, consumer_id: str, run_id: str, default: dt.date) -> dt.date:
    """A re-run uses the date its run was first planned with (demands may have expired since)."""
    with eng.connect() as conn:
        known = conn.scalar(
            sa.text("select min(as_of) from feed.run where consumer_id = :c and run_id = :r"),
            {"c": consumer_id, "r": run_id},
        )
    return known or default


def _plan_window(
    eng: Engine, plan: FeedPlan, run_id: str, as_of: dt.date, path: Path
) -> tuple[dt.datetime | None, dt.datetime]:
    """The run's window for this feed: recorded on first use, read back on a re-run."""
    key = {"c": plan.consumer_id, "f": plan.name, "r": run_id}
    with eng.begin() as conn:
        locks.hold_for_transaction(conn, f"tierflow.sink.{plan.consumer_id}.{plan.name}")
        row = conn.execute(
            sa.text(
                "select watermark_from, watermark_to from feed.run"
                " where consumer_id = :c and feed_name = :f and run_id = :r"
            ),
            key,
        ).one_or_none()
        if row is not None:
            return row.watermark_from, row.watermark_to
        acked = conn.scalar(
            sa.text(
                "select acked_watermark from feed.watermark where consumer_id = :c and feed_name = :f"
            ),
            key,
        )
        latest = latest_version(conn.connection.driver_connection, plan.source)
        floor = acked or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        upper = max(latest, floor) if latest is not None else floor
        conn.execute(
            sa.text(
                "insert into feed.run (run_id, consumer_id, feed_name, watermark_from, watermark_to,"
                " row_count, path, status, as_of) values (:r, :c, :f, :wf, :wt, 0, :p, 'writing', :a)"
            ),
            {**key, "wf": acked, "wt": upper, "p": str(path), "a": as_of},
        )
        return acked, upper


def manifest_for(
    plan: FeedPlan,
    run_id: str,
    as_of: dt.date,
    window: tuple[dt.datetime | None, dt.datetime],
    ops: dict[str, int],
) -> dict[str, Any]:
    schema = plan.schema()
    return {
        "format": FORMAT,
        "division_code": plan.division_code,
        "consumer_id": plan.consumer_id,
        "feed": plan.name,
        "source": plan.source.table,
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "watermark": {"from": _iso(window[0]), "to": _iso(window[1])},
        "key": [plan.source.output_name(k) for k in plan.source.key],
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        "ops": ops,
        "clearance": plan.clearance,
        "masking": plan.masking(),
        "pseudonym_key": "per-consumer key derived from the platform secret"
        if plan.pseudonymised
        else None,
        "withheld": plan.withheld,
        "demand_ids": list(plan.demand_ids),
    }


def sink_feed(
    eng: Engine, plan: FeedPlan, run_id: str, as_of: dt.date, secret: bytes | None
) -> dict[str, Any]:
    """One feed, serialised against any other process publishing the same consumer's feed.

    Two sinks of one district at once would otherwise clear each other's temp folders.
    """
    lock = f"tierflow.sink.publish.{plan.consumer_id}.{plan.name}"
    with eng.connect() as holder:
        locks.hold(holder, lock)
        holder.commit()
        try:
            return _sink_feed_locked(eng, plan, run_id, as_of, secret)
        finally:
            locks.release(holder, lock)
            holder.commit()


def _sink_feed_locked(
    eng: Engine, plan: FeedPlan, run_id: str, as_of: dt.date, secret: bytes | None
) -> dict[str, Any]:
    started = time.perf_counter()
    path = feed_path(plan.division_code, plan.name, run_id)
    window = _plan_window(eng, plan, run_id, as_of, path)
    key = consumer_key(secret, plan.consumer_id) if plan.pseudonymised and secret else None
    with eng.begin() as conn:
        table = extract(conn.connection.driver_connection, plan, window[0], window[1], key)
    counts = pc.value_counts(table.column("op")).to_pylist() if table.num_rows else []
    ops = {"insert": 0, "update": 0, "delete": 0}
    for entry in counts:
        ops[entry["values"]] = int(entry["counts"])
    manifest = publish_table(path, table, manifest_for(plan, run_id, as_of, window, ops))
    with eng.begin() as conn:
        conn.execute(
            sa.text(
                "update feed.run set status = 'published', row_count = :n, path = :p,"
                " published_at = now() where consumer_id = :c and feed_name = :f and run_id = :r"
            ),
            {
                "n": table.num_rows,
                "p": str(path),
                "c": plan.consumer_id,
                "f": plan.name,
                "r": run_id,
            },
        )
    return {
        "division_code": plan.division_code,
        "feed": plan.name,
        "path": str(path),
        "rows": table.num_rows,
        "ops": ops,
        "watermark": manifest["watermark"],
        "files": len(manifest["files"]),
        "seconds": round(time.perf_counter() - started, 3),
    }


def sink(
    district: str | None = None,
    run_id: str | None = None,
    *,
    as_of: dt.date | None = None,
    eng: Engine | None = None,
    load: bool = True,
    workers: int | None = None,
) -> dict[str, Any]:
    """Publish this run's feeds for one pilot district (or all); returns a JSON-able summary."""
    cat = catalog()
    pilots = cat.divisions.pilot_codes
    if district is not None and district not in pilots:
        raise TierflowError(f"{district} is not a pilot district (pilots: {', '.join(pilots)})")
    eng = eng or default_engine()
    started = time.perf_counter()
    run_id = safe_run_id(run_id or default_run_id())
    loaded = None
    if load:
        from tierflow.sink.thematic import load_thematic

        loaded = load_thematic(eng)
    sync_consumers(eng, cat)
    jobs: list[tuple[FeedPlan, dt.date]] = []
    for code in [district] if district else pilots:
        consumer = district_consumer(cat, code)
        run_date = _run_as_of(eng, consumer.id, run_id, as_of or today())
        jobs += [(plan, run_date) for plan in plan_feeds(cat, consumer, run_date)]
    secret = pseudonym_secret() if any(plan.pseudonymised for plan, _ in jobs) else None
    workers = workers or int(
        os.environ.get("TIERFLOW_SINK_WORKERS", str(min(4, os.cpu_count() or 2)))
    )
    # Threads: COPY, CSV parsing, masking and Parquet writing all release the GIL.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        feeds = list(pool.map(lambda job: sink_feed(eng, job[0], run_id, job[1], secret), jobs))
    return {
        "run_id": run_id,
        "districts": sorted({f["division_code"] for f in feeds}),
        "feeds": feeds,
        "rows": sum(f["rows"] for f in feeds),
        "thematic": loaded,
        "seconds": round(time.perf_counter() - started, 3),
    }


def ack_feed(district: str, run_id: str, *, eng: Engine | None = None) -> dict[str, Any]:
    """The district confirms it applied run ``run_id``: its watermarks move to the run's ends."""
    cat = catalog()
    consumer = district_consumer(cat, district)
    eng = eng or default_engine()
    run_id = safe_run_id(run_id)
    with eng.begin() as conn:
        runs = conn.execute(
            sa.text(
                "select feed_name, watermark_to, status, path from feed.run"
                " where consumer_id = :c and run_id = :r order by feed_name"
            ),
            {"c": consumer.id, "r": run_id},
        ).all()
        if not runs:
            raise TierflowError(f"no feed run {run_id!r} for district {district}")
        unfinished = [r.feed_name for r in runs if r.status != "published"]
        if unfinished:
            raise TierflowError(f"run {run_id} is not published for: {', '.join(unfinished)}")
        for r in runs:
            check = verify_feed(Path(r.path))
            if not check["ok"]:
                raise TierflowError(f"{r.path} does not verify: {'; '.join(check['problems'])}")
        feeds = {}
        for r in runs:
            moved = conn.execute(
                sa.text(
                    "insert into feed.watermark (consumer_id, feed_name, acked_run_id, acked_watermark)"
                    " values (:c, :f, :r, :w) on conflict (consumer_id, feed_name) do update"
                    " set acked_run_id = excluded.acked_run_id,"
                    " acked_watermark = excluded.acked_watermark, acked_at = now()"
                    " where feed.watermark.acked_watermark < excluded.acked_watermark"
                    " returning 1"
                ),
                {"c": consumer.id, "f": r.feed_name, "r": run_id, "w": r.watermark_to},
            ).first()
            feeds[r.feed_name] = {"watermark": _iso(r.watermark_to), "moved": moved is not None}
    return {"district": district, "run_id": run_id, "feeds": feeds}
