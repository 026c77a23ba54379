"""``sink``: per pilot district, per demanded feed, an incremental feed published atomically.

For each (district, feed) the run's window is fixed first and recorded in ``feed.run``
(from the district's acknowledged watermark to the source's latest change); the rows are
then the versions of that window read from type-2 history, so re-running a run id selects
the same rows and writes the same bytes, whatever changed since. ``ack_feed`` moves the
district's watermark to the end of an acknowledged run's windows.

The work is set-based across districts: the run's publish locks are taken together, all
windows are planned in one transaction, districts whose feeds need the same SQL share one
statement (a few per source, not one per district and feed; rows are sorted in Arrow; a
big source's first feeds are read once, by statements over ranges of its pages, all in one
snapshot), and each district's feeds are published together (one round of fsyncs, one
status update) as soon as its last statement has delivered.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tierflow import config, locks
from tierflow.contracts import Catalog, catalog
from tierflow.db import engine as default_engine
from tierflow.db import serves_citus
from tierflow.errors import TierflowError
from tierflow.lists import district_consumer, today
from tierflow.masking import consumer_key
from tierflow.run_ids import default_run_id, safe_run_id
from tierflow.settings import settings
from tierflow.sharing.policy import FeedPlan, plan_feeds
from tierflow.sharing.store import policy_catalog
from tierflow.sharing.views import refresh_views
from tierflow.sink import cut
from tierflow.sink.extract import (
    PageRange,
    Window,
    batch_signature,
    extract_batch,
    feed_table,
    latest_version,
)
from tierflow.sink.publish import publish_feeds
from tierflow.sink.purge import (
    PurgeJob,
    key_treatment,
    plan_purges,
    purge_manifest,
    purge_table,
)
from tierflow.sink.signing import Signer, feed_secrets
from tierflow.sink.spill import RowStore
from tierflow.sink.verify import verify_feed

log = logging.getLogger(__name__)
FORMAT = "tierflow-feed/1"


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


def _run_dates(eng: Engine, consumer_ids: list[str], run_id: str, default: dt.date) -> dict:
    """A re-run uses the date its run was first planned with (demands may have expired since)."""
    with eng.connect() as conn:
        known = dict(
            conn.execute(
                sa.text(
                    "select consumer_id, min(as_of) from feed.run"
                    " where run_id = :r and consumer_id = any(:cs) group by consumer_id"
                ),
                {"r": run_id, "cs": consumer_ids},
            ).all()
        )
    return {c: known.get(c) or default for c in consumer_ids}


@dataclass
class FeedJob:
    """One (district, feed) of this run: its plan, then its window."""

    plan: FeedPlan
    as_of: dt.date
    path: Path
    window: tuple[dt.datetime | None, dt.datetime] | None = None

    @property
    def publish_lock(self) -> str:
        return f"tierflow.sink.publish.{self.plan.consumer_id}.{self.plan.name}"


def _plan_windows(eng: Engine, jobs: list[FeedJob], run_id: str) -> None:
    """Each feed's window for this run: recorded on first use, read back on a re-run.

    One transaction for every feed of the run; the callers hold the feeds' publish locks.
    """
    consumers = sorted({j.plan.consumer_id for j in jobs})
    with eng.begin() as conn:
        planned = {
            (r.consumer_id, r.feed_name): (r.watermark_from, r.watermark_to)
            for r in conn.execute(
                sa.text(
                    "select consumer_id, feed_name, watermark_from, watermark_to from feed.run"
                    " where run_id = :r and consumer_id = any(:cs)"
                ),
                {"r": run_id, "cs": consumers},
            )
        }
        acked = {
            (r.consumer_id, r.feed_name): r.acked_watermark
            for r in conn.execute(
                sa.text(
                    "select consumer_id, feed_name, acked_watermark from feed.watermark"
                    " where consumer_id = any(:cs)"
                ),
                {"cs": consumers},
            )
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
            conn.execute(
                sa.text(
                    "insert into feed.run (run_id, consumer_id, feed_name, watermark_from,"
                    " watermark_to, row_count, path, status, as_of, demand_ids, key_treatment)"
                    " values (:r, :c, :f, :wf, :wt, 0, :p, 'writing', :a, :d, cast(:k as jsonb))"
                ),
                new_rows,
            )


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


def _op_counts(table: pa.Table) -> dict[str, int]:
    ops = {"insert": 0, "update": 0, "delete": 0}
    for entry in pc.value_counts(table.column("op")).to_pylist() if table.num_rows else []:
        ops[entry["values"]] = int(entry["counts"])
    return ops


PARALLEL_ABOVE_ROWS = 200_000  # below this, one statement beats several scans of the source


@dataclass(frozen=True)
class Statement:
    """One COPY: windows sharing its SQL, over all the source's pages or a range of them."""

    windows: list[Window]
    rows: float  # the planner's estimate, to run small statements first
    pages: PageRange | None = None


@dataclass(frozen=True)
class SourceSize:
    rows: float  # pg_class.reltuples: the planner's estimate, no scan
    pages: int  # in the run's snapshot: every row the statements can see lies below


def _source_sizes(conn: sa.Connection, tables: set[str]) -> dict[str, SourceSize]:
    sizes = {}
    for table in tables:
        row = conn.execute(
            sa.text(
                "select greatest(reltuples, 0), pg_relation_size(oid)"
                " / current_setting('block_size')::bigint from pg_class"
                " where oid = to_regclass(:t)"
            ),
            {"t": table},
        ).first()
        sizes[table] = SourceSize(float(row[0]), int(row[1])) if row else SourceSize(0.0, 0)
    return sizes


def _page_ranges(pages: int, parts: int) -> list[PageRange]:
    """``parts`` ranges covering the source; the last one open-ended."""
    bounds = [pages * i // parts for i in range(parts)]
    return [
        (bounds[i], bounds[i + 1] if i + 1 < parts else None)
        for i in range(parts)
        if i + 1 == parts or bounds[i] < bounds[i + 1]
    ]


def _statements(
    jobs: list[FeedJob], secret: bytes | None, workers: int, sizes: dict[str, SourceSize]
) -> list[Statement]:
    """Statements to run: windows grouped by SQL, big groups split so ``workers`` share them.

    A big group of first feeds is split by pages: each statement reads its own part of
    the source for every district of the group, so the source is read once. Other big
    groups are split by districts (a statement holds about ROWS_PER_STATEMENT rows, judged
    from the source's size spread evenly over the divisions); each re-reads what its
    districts' windows select. Smallest statements first, so districts complete and
    publish while the big statements still run.
    """
    groups: dict[tuple, list[Window]] = {}
    for job in jobs:
        assert job.window is not None
        key = None
        if job.plan.pseudonymised and secret:
            key = consumer_key(secret, job.plan.consumer_id)
        window = Window(job.plan, job.window[0], job.window[1], key)
        groups.setdefault(batch_signature(window), []).append(window)
    divisions = max(1, len(catalog().divisions.divisions))
    statements: list[Statement] = []
    for group in groups.values():
        size = sizes.get(group[0].plan.source.table, SourceSize(0.0, 0))
        per_district = size.rows / divisions
        total = per_district * len(group)
        parts = max(1, -(-int(total) // settings().sink_rows_per_statement))
        if total >= PARALLEL_ABOVE_ROWS:
            # two statements per worker: while the second runs, the first's districts publish
            parts = max(parts, settings().sink_statements_per_worker * workers)
        first_feeds = all(w.watermark_from is None for w in group)
        if parts > 1 and first_feeds and size.pages > 1:
            ranges = _page_ranges(size.pages, min(parts, size.pages))
            statements += [Statement(group, total / len(ranges), r) for r in ranges]
            continue
        parts = min(parts, len(group))
        step = -(-len(group) // parts)
        statements += [
            Statement(group[i : i + step], per_district * len(group[i : i + step]))
            for i in range(0, len(group), step)
        ]
    return sorted(statements, key=lambda s: s.rows)


def _extract(eng: Engine, statement: Statement, store: RowStore, snapshot: str) -> None:
    with eng.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            extract_batch(
                conn.connection.driver_connection,
                statement.windows,
                store,
                pages=statement.pages,
                snapshot=snapshot,
            )


def _publish_district(
    eng: Engine,
    jobs: list[FeedJob],
    run_id: str,
    started: float,
    store: RowStore,
    signer: Signer,
) -> list[dict[str, Any]]:
    """One district's feeds: published together, then marked published in one transaction.

    An incremental feed whose window holds no change is not published (no folder to poll
    or to read): the ledger records it ``empty``, with its window, so a re-run of the run id
    stays empty and acknowledging the run still moves the watermark over it. A first feed is
    always published, empty or not: it tells the district the feed exists and its schema.
    """
    items = []
    empty = []
    for job in jobs:
        assert job.window is not None
        table = feed_table(store.take((job.plan.division_code, job.plan.name)), job.plan)
        if table.num_rows == 0 and job.window[0] is not None:
            empty.append(job)
            continue
        manifest = manifest_for(job.plan, run_id, job.as_of, job.window, _op_counts(table))
        items.append((job, table, manifest))
    manifests = publish_feeds([(job.path, t, m) for job, t, m in items], signer=signer)
    jobs = [job for job, _t, _m in items]
    del items
    with eng.begin() as conn:
        if empty:
            conn.execute(
                sa.text(
                    "update feed.run set status = 'empty', row_count = 0, published_at = now()"
                    " where consumer_id = :c and feed_name = :f and run_id = :r"
                ),
                [{"c": j.plan.consumer_id, "f": j.plan.name, "r": run_id} for j in empty],
            )
    if not jobs:
        return []
    with eng.begin() as conn:
        conn.execute(
            sa.text(
                "update feed.run set status = 'published', row_count = :n, path = :p,"
                " published_at = now() where consumer_id = :c and feed_name = :f and run_id = :r"
            ),
            [
                {
                    "n": manifest["rows"],
                    "p": str(job.path),
                    "c": job.plan.consumer_id,
                    "f": job.plan.name,
                    "r": run_id,
                }
                for job, manifest in zip(jobs, manifests, strict=True)
            ],
        )
    seconds = round(time.perf_counter() - started, 3)
    return [
        {
            "division_code": job.plan.division_code,
            "feed": job.plan.name,
            "path": str(job.path),
            "rows": manifest["rows"],
            "ops": manifest["ops"],
            "watermark": manifest["watermark"],
            "files": len(manifest["files"]),
            "seconds": seconds,
        }
        for job, manifest in zip(jobs, manifests, strict=True)
    ]


def _sink_jobs(
    eng: Engine,
    jobs: list[FeedJob],
    run_id: str,
    secret: bytes | None,
    workers: int,
    signer: Signer,
) -> list[dict[str, Any]]:
    """Extract every job's rows and publish each district as soon as it is whole.

    Every statement reads one cut (:mod:`tierflow.sink.cut`): on one server a snapshot
    exported by a transaction held open meanwhile, so statements over ranges of one source's
    pages see each row version in exactly one range; on Citus the windows' bounds. ``workers`` threads run statements and as many publish the districts they
    complete; rows wait in a :class:`RowStore`, spilled to disk when the run is big.
    """
    started = time.perf_counter()
    by_district: dict[str, list[FeedJob]] = {}
    for job in jobs:
        by_district.setdefault(job.plan.division_code, []).append(job)
    with eng.connect() as holder:
        holder = holder.execution_options(isolation_level="REPEATABLE READ")
        with holder.begin():
            citus = serves_citus(eng)
            snapshot = cut.snapshot(holder, citus)
            sizes = _source_sizes(holder, {j.plan.source.table for j in jobs})
            if citus:  # no ranges of pages without one snapshot (see sink.cut)
                sizes = {t: SourceSize(s.rows, 0) for t, s in sizes.items()}
            statements = _statements(jobs, secret, workers, sizes)
            remaining: dict[tuple[str, str], int] = {}
            for statement in statements:
                for window in statement.windows:
                    key = (window.plan.division_code, window.plan.name)
                    remaining[key] = remaining.get(key, 0) + 1
            waiting = {code: len(district_jobs) for code, district_jobs in by_district.items()}
            spill = sum(s.rows for s in statements) > settings().sink_spill_above_rows
            store = RowStore(config.data_root() if spill else None)
            lock = threading.Lock()
            publishing: list[Future] = []
            try:
                with (
                    ThreadPoolExecutor(workers, thread_name_prefix="sink-publish") as publisher,
                    ThreadPoolExecutor(workers, thread_name_prefix="sink-extract") as extractor,
                ):

                    def extract_then_publish(statement: Statement) -> None:
                        _extract(eng, statement, store, snapshot)
                        with lock:
                            for window in statement.windows:
                                code = window.plan.division_code
                                key = (code, window.plan.name)
                                remaining[key] -= 1
                                if remaining[key] == 0:
                                    waiting[code] -= 1
                                    if waiting[code] == 0:
                                        publishing.append(
                                            publisher.submit(
                                                _publish_district,
                                                eng,
                                                by_district[code],
                                                run_id,
                                                started,
                                                store,
                                                signer,
                                            )
                                        )

                    # Threads: COPY, CSV parsing, sorting, masking, Parquet writing and
                    # fsync release the GIL.
                    extracting = [extractor.submit(extract_then_publish, s) for s in statements]
                    try:
                        for done in as_completed(extracting):
                            done.result()
                        summaries = [summary for done in publishing for summary in done.result()]
                    except BaseException:
                        for future in [*extracting, *publishing]:
                            future.cancel()
                        raise
            finally:
                store.close()
    order = {code: i for i, code in enumerate(by_district)}
    return sorted(summaries, key=lambda f: order[f["division_code"]])


def _publish_purges(
    eng: Engine, purges: list[PurgeJob], run_id: str, secret: bytes | None, signer: Signer
) -> list[dict[str, Any]]:
    """Each purge notice published; the district's watermark for that feed forgotten."""
    summaries = []
    for job in purges:
        key = consumer_key(secret, job.consumer_id) if job.pseudonymised and secret else None
        table = purge_table(eng, job, key)
        manifest = {
            **purge_manifest(job, run_id, job.planned_at.date(), FORMAT),
            "ops": _op_counts(table),
        }
        [published] = publish_feeds([(job.path, table, manifest)], signer=signer)
        with eng.begin() as conn:
            conn.execute(
                sa.text(
                    "update feed.run set status = 'published', row_count = :n,"
                    " published_at = now() where consumer_id = :c and feed_name = :f"
                    " and run_id = :r"
                ),
                {"n": published["rows"], "c": job.consumer_id, "f": job.name, "r": run_id},
            )
            conn.execute(
                sa.text("delete from feed.watermark where consumer_id = :c and feed_name = :f"),
                {"c": job.consumer_id, "f": job.name},
            )
        summaries.append(
            {
                "division_code": job.division_code,
                "feed": job.name,
                "path": str(job.path),
                "rows": published["rows"],
                "ops": published["ops"],
                "watermark": published["watermark"],
                "files": len(published["files"]),
                "purge": True,
                "reason": job.reason,
            }
        )
    return summaries


def sink(
    district: str | None = None,
    run_id: str | None = None,
    *,
    as_of: dt.date | None = None,
    eng: Engine | None = None,
    load: bool = True,
    workers: int | None = None,
    cat: Catalog | None = None,
    refresh: bool = True,
) -> dict[str, Any]:
    """Publish this run's feeds for one pilot district (or all); returns a JSON-able summary.

    The compiled sharing policy of today (or ``as_of``) also regenerates every district's
    pull views and grants, in one transaction, before any feed is written (unless
    ``refresh`` is false: the sink DAG refreshes once per run, before its district tasks);
    a feed the policy no longer allows to a district that received it becomes a purge notice.
    """
    secret, signer = feed_secrets()  # both secrets first: a missing one fails before any work
    eng = eng or default_engine()
    cat = cat or policy_catalog(eng)
    pilots = cat.divisions.pilot_codes
    if district is not None and district not in pilots:
        raise TierflowError(f"{district} is not a pilot district (pilots: {', '.join(pilots)})")
    started = time.perf_counter()
    run_id = safe_run_id(run_id or default_run_id())
    policy_date = as_of or today()
    policy = {code: plan_feeds(cat, district_consumer(cat, code), policy_date) for code in pilots}
    loaded = None
    if load:
        from tierflow.sink.thematic import load_thematic

        loaded = load_thematic(eng)
    sync_consumers(eng, cat)
    if refresh:
        with eng.begin() as conn:
            refresh_views(conn, cat, policy_date, secret=secret, plans=policy)
    consumers = [district_consumer(cat, code) for code in ([district] if district else pilots)]
    run_dates = _run_dates(eng, [c.id for c in consumers], run_id, policy_date)
    jobs = [
        FeedJob(plan, run_dates[c.id], feed_path(plan.division_code, plan.name, run_id))
        for c in consumers
        for plan in (
            policy[c.division_code]
            if run_dates[c.id] == policy_date
            else plan_feeds(cat, c, run_dates[c.id])
        )
    ]
    purges = plan_purges(
        eng,
        cat,
        {c.id: (c.division_code or "", c.clearance) for c in consumers},
        {(j.plan.consumer_id, j.plan.name) for j in jobs},
        run_id,
        policy_date,
        lambda code, feed: feed_path(code, feed, run_id),
    )
    purged = {(p.consumer_id, p.name) for p in purges}
    jobs = [j for j in jobs if (j.plan.consumer_id, j.plan.name) not in purged]
    workers = max(
        1,
        workers or settings().sink_workers,
    )
    feeds: list[dict[str, Any]] = []
    if jobs or purges:
        # One consumer's feed is published by one process at a time: two sinks of a
        # district at once would otherwise clear each other's temp folders.
        names = sorted({job.publish_lock for job in [*jobs, *purges]})
        with eng.connect() as holder:
            locks.hold_all(holder, names)
            holder.commit()
            try:
                if jobs:
                    _plan_windows(eng, jobs, run_id)
                    feeds = _sink_jobs(eng, jobs, run_id, secret, workers, signer)
                feeds += _publish_purges(eng, purges, run_id, secret, signer)
            finally:
                locks.release_all(holder, names)
                holder.commit()
    return {
        "run_id": run_id,
        "districts": sorted({f["division_code"] for f in feeds}),
        "feeds": feeds,
        "rows": sum(f["rows"] for f in feeds),
        "purges": len(purges),
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
                "select r.feed_name, r.watermark_to, r.status, r.path, r.kind,"
                " exists (select from feed.run as p where p.consumer_id = r.consumer_id"
                " and p.feed_name = r.feed_name and p.kind = 'purge'"
                " and p.planned_at > r.planned_at) as purged_since"
                " from feed.run as r"
                " where r.consumer_id = :c and r.run_id = :r order by r.feed_name"
            ),
            {"c": consumer.id, "r": run_id},
        ).all()
        if not runs:
            raise TierflowError(f"no feed run {run_id!r} for district {district}")
        unfinished = [r.feed_name for r in runs if r.status not in ("published", "empty")]
        if unfinished:
            raise TierflowError(f"run {run_id} is not published for: {', '.join(unfinished)}")
        for r in runs:
            if r.status == "empty":
                continue  # nothing was published: nothing to verify
            check = verify_feed(Path(r.path))
            if not check["ok"]:
                raise TierflowError(f"{r.path} does not verify: {'; '.join(check['problems'])}")
        feeds = {}
        for r in runs:
            if r.kind == "purge" or r.purged_since:
                # a purge notice ends the feed: the next approval starts from a first feed
                feeds[r.feed_name] = {"watermark": None, "moved": False, "purge": True}
                continue
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
