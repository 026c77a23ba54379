"""``sink``: per pilot district, per demanded feed, an incremental feed published atomically.

A run, in order: the sharing policy of the day compiled into each district's feed plans
(``sharing.policy``; the pull views regenerated from the same plans), the thematic tables
loaded (``thematic``, unless the caller loads them as their own stage), the feeds the
policy no longer allows turned into purge notices (``purge``), every feed's window fixed
in the ledger (``ledger``: from the district's acknowledged watermark to the source's
latest change, read back on a re-run), then the rows extracted by a few statements
(``planning``, ``runner``, ``extract``) and each district's feeds published together as
soon as its last statement has delivered (``publication``). The run's publish locks are
held throughout, so one consumer's feed is published by one process at a time.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tierflow import locks, storage
from tierflow.db import engine as default_engine
from tierflow.errors import TierflowError
from tierflow.lists import district_consumer, today
from tierflow.run_ids import default_run_id, safe_run_id
from tierflow.settings import settings
from tierflow.sharing.policy import plan_feeds
from tierflow.sharing.store import policy_catalog
from tierflow.sharing.views import refresh_views
from tierflow.sink import ledger
from tierflow.sink.ledger import FeedJob
from tierflow.sink.publication import publish_purges
from tierflow.sink.purge import plan_purges
from tierflow.sink.runner import sink_jobs
from tierflow.sink.signing import feed_secrets

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.engine import Engine
    from upath import UPath

    from tierflow.contracts import Catalog


def feed_path(division_code: str, feed: str, run_id: str) -> UPath:
    return storage.feeds_dir() / division_code / feed / run_id


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
    ledger.sync_consumers(eng, cat)
    if refresh:
        with eng.begin() as conn:
            refresh_views(conn, cat, policy_date, secret=secret, plans=policy)
    consumers = [district_consumer(cat, code) for code in ([district] if district else pilots)]
    run_dates = ledger.run_dates(eng, [c.id for c in consumers], run_id, policy_date)
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
    workers = max(1, workers or settings().sink_workers)
    feeds: list[dict[str, Any]] = []
    if jobs or purges:
        # held for the whole run: one consumer's feed is published by one process at a time
        names = sorted({job.publish_lock for job in [*jobs, *purges]})
        with eng.connect() as holder:
            locks.hold_all(holder, names)
            holder.commit()
            try:
                if jobs:
                    ledger.plan_windows(eng, jobs, run_id)
                    feeds = sink_jobs(eng, jobs, run_id, secret, workers, signer)
                feeds += publish_purges(eng, purges, run_id, secret, signer)
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
