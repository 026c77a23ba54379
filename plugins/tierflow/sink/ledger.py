"""The feed ledger: ``feed.run`` (each feed of each run: its window, status, rows, folder),
``feed.watermark`` (where each district acknowledged each feed) and ``feed.consumer``.

Every statement on these tables is here (SQL in ``sql/sink/``), so the ledger's rules live
in one place: a feed's window is recorded before any row is read and read back on a re-run
(so a re-run selects the same rows and writes the same bytes, whatever changed since); a
feed is ``writing`` until published, ``empty`` when an incremental window held no change;
a purge notice is a run of kind ``purge`` and forgets the watermark; an acknowledgement
moves a watermark forward only, and only over runs whose feeds verify.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tierflow.contracts import Catalog, catalog
from tierflow.db import engine as default_engine
from tierflow.db import serves_citus
from tierflow.errors import TierflowError
from tierflow.lists import district_consumer
from tierflow.run_ids import safe_run_id
from tierflow.sink import cut
from tierflow.sink.manifests import iso
from tierflow.sink.sql import statement
from tierflow.sink.statements import latest_version
from tierflow.sink.verify import verify_feed

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from sqlalchemy.engine import Connection, Engine, Row

    from tierflow.sharing.policy import FeedPlan

Bounds = tuple[dt.datetime | None, dt.datetime]  # (acknowledged watermark or None, end)


def publish_lock(consumer_id: str, feed_name: str) -> str:
    """The lock held while a consumer's feed is planned and published (by one process at a
    time: two sinks of a district at once would clear each other's temp folders)."""
    return f"tierflow.sink.publish.{consumer_id}.{feed_name}"


@dataclass
class FeedJob:
    """One (district, feed) of this run: its plan, then its window."""

    plan: FeedPlan
    as_of: dt.date
    path: Path
    window: Bounds | None = None

    @property
    def publish_lock(self) -> str:
        return publish_lock(self.plan.consumer_id, self.plan.name)


def key_treatment(plan: FeedPlan) -> dict[str, str]:
    """How a plan sends its key columns (what a later purge notice must repeat)."""
    return {c.column: c.treatment for c in plan.columns if c.column in plan.source.key}


def sync_consumers(eng: Engine, cat: Catalog) -> None:
    """feed.consumer mirrors the demand list's consumers (the pull views read clearances there)."""
    rows = [
        dict(id=c.id, kind=c.kind, code=c.division_code, clearance=c.clearance)
        for c in cat.demand.consumers
    ]
    with eng.begin() as conn:
        conn.execute(statement("consumer_sync.sql"), rows)


def run_dates(
    eng: Engine, consumer_ids: list[str], run_id: str, default: dt.date
) -> dict[str, dt.date]:
    """A re-run uses the date its run was first planned with (demands may have expired since)."""
    with eng.connect() as conn:
        known = dict(
            conn.execute(statement("run_dates.sql"), {"r": run_id, "cs": consumer_ids}).all()
        )
    return {c: known.get(c) or default for c in consumer_ids}


def plan_windows(eng: Engine, jobs: list[FeedJob], run_id: str) -> None:
    """Each feed's window for this run: recorded on first use, read back on a re-run.

    One transaction for every feed of the run; the callers hold the feeds' publish locks.
    A new window runs from the district's acknowledged watermark to the source's latest
    change (never below the watermark).
    """
    consumers = sorted({j.plan.consumer_id for j in jobs})
    with eng.begin() as conn:
        planned = {
            (r.consumer_id, r.feed_name): (r.watermark_from, r.watermark_to)
            for r in conn.execute(statement("run_windows.sql"), {"r": run_id, "cs": consumers})
        }
        acked = {
            (r.consumer_id, r.feed_name): r.acked_watermark
            for r in conn.execute(statement("watermarks.sql"), {"cs": consumers})
        }
        # on Citus: no merge still committing on some worker under the bounds read below
        cut.settle(conn, {j.plan.source.table for j in jobs}, serves_citus(eng))
        latest: dict[str, dt.datetime | None] = {}
        new_rows = []
        for job in jobs:
            key = (job.plan.consumer_id, job.plan.name)
            if key in planned:
                job.window = planned[key]
                continue
            source = job.plan.source
            if source.name not in latest:
                latest[source.name] = latest_version(conn.connection.driver_connection, source)
            floor = acked.get(key) or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            newest = latest[source.name]
            job.window = (acked.get(key), max(newest, floor) if newest is not None else floor)
            new_rows.append(
                {
                    "r": run_id,
                    "c": job.plan.consumer_id,
                    "f": job.plan.name,
                    "wf": job.window[0],
                    "wt": job.window[1],
                    "p": str(job.path),
                    "a": job.as_of,
                    "d": list(job.plan.demand_ids),
                    "k": json.dumps(key_treatment(job.plan), sort_keys=True),
                }
            )
        if new_rows:
            conn.execute(statement("run_insert.sql"), new_rows)


def mark_empty(eng: Engine, run_id: str, jobs: Sequence[FeedJob]) -> None:
    """Incremental feeds with no change in their window: recorded, not published."""
    if not jobs:
        return
    with eng.begin() as conn:
        conn.execute(
            statement("run_empty.sql"),
            [{"c": j.plan.consumer_id, "f": j.plan.name, "r": run_id} for j in jobs],
        )


def mark_published(
    eng: Engine, run_id: str, published: Sequence[tuple[FeedJob, dict[str, Any]]]
) -> None:
    """Feeds published (each with the manifest written): one transaction for all of them."""
    with eng.begin() as conn:
        conn.execute(
            statement("run_published.sql"),
            [
                {
                    "n": manifest["rows"],
                    "p": str(job.path),
                    "c": job.plan.consumer_id,
                    "f": job.plan.name,
                    "r": run_id,
                }
                for job, manifest in published
            ],
        )


def recorded_purges(conn: Connection, run_id: str, consumer_ids: list[str]) -> list[Row]:
    """The purge notices recorded earlier for this run id."""
    return conn.execute(statement("purge_recorded.sql"), {"r": run_id, "cs": consumer_ids}).all()


def ended_feeds(conn: Connection, consumer_ids: list[str]) -> list[Row]:
    """Feeds these consumers received since their last purge notice (``purge_ended.sql``)."""
    return conn.execute(statement("purge_ended.sql"), {"consumers": consumer_ids}).all()


def record_purge(conn: Connection, run_id: str, as_of: dt.date, notice: dict[str, Any]) -> None:
    """A new purge notice of the run: ``notice`` holds its consumer ``c``, feed ``f``, sent
    window ``wf``–``wt``, folder ``p``, demands ``d``, key treatment ``k``, reason ``why`` and
    planning time ``at``."""
    conn.execute(
        statement("purge_insert.sql"),
        {"r": run_id, "a": as_of, **notice, "k": json.dumps(notice["k"], sort_keys=True)},
    )


def mark_purge_published(
    eng: Engine, run_id: str, consumer_id: str, feed_name: str, rows: int
) -> None:
    """A purge notice published and the district's watermark for that feed forgotten."""
    with eng.begin() as conn:
        conn.execute(
            statement("purge_published.sql"),
            {"n": rows, "c": consumer_id, "f": feed_name, "r": run_id},
        )
        conn.execute(statement("watermark_forget.sql"), {"c": consumer_id, "f": feed_name})


def ack_feed(district: str, run_id: str, *, eng: Engine | None = None) -> dict[str, Any]:
    """The district confirms it applied run ``run_id``: its watermarks move to the run's ends."""
    cat = catalog()
    consumer = district_consumer(cat, district)
    eng = eng or default_engine()
    run_id = safe_run_id(run_id)
    with eng.begin() as conn:
        runs = conn.execute(statement("ack_runs.sql"), {"c": consumer.id, "r": run_id}).all()
        if not runs:
            raise TierflowError(f"no feed run {run_id!r} for district {district}")
        unfinished = [r.feed_name for r in runs if r.status not in ("published", "empty")]
        if unfinished:
            raise TierflowError(f"run {run_id} is not published for: {', '.join(unfinished)}")
        for r in runs:
            if r.status == "empty":
                continue  # nothing was published: nothing to verify
            check = verify_feed(r.path)  # a folder or a storage URL
            if not check["ok"]:
                raise TierflowError(f"{r.path} does not verify: {'; '.join(check['problems'])}")
        feeds = {}
        for r in runs:
            if r.kind == "purge" or r.purged_since:
                # a purge notice ends the feed: the next approval starts from a first feed
                feeds[r.feed_name] = {"watermark": None, "moved": False, "purge": True}
                continue
            moved = conn.execute(
                statement("watermark_advance.sql"),
                {"c": consumer.id, "f": r.feed_name, "r": run_id, "w": r.watermark_to},
            ).first()
            feeds[r.feed_name] = {"watermark": iso(r.watermark_to), "moved": moved is not None}
    return {"district": district, "run_id": run_id, "feeds": feeds}
