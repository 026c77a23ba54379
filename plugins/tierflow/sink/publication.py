"""A district's feeds of a run made public: tables → manifests → ``publish`` → the ledger.

A district's change feeds are published together (one round of fsyncs) and marked
published in one transaction, as soon as the runner has all their rows; each purge
notice is published, then recorded with its watermark forgotten.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from tierflow.masking import consumer_key
from tierflow.sink import ledger
from tierflow.sink.extract import feed_table
from tierflow.sink.manifests import manifest_for, op_counts, purge_manifest, summary
from tierflow.sink.publish import publish_feeds
from tierflow.sink.purge import PurgeJob, purge_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tierflow.sink.ledger import FeedJob
    from tierflow.sink.signing import Signer
    from tierflow.sink.spill import RowStore


def publish_district(
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
        manifest = manifest_for(job.plan, run_id, job.as_of, job.window, op_counts(table))
        items.append((job, table, manifest))
    manifests = publish_feeds([(job.path, t, m) for job, t, m in items], signer=signer)
    jobs = [job for job, _t, _m in items]
    del items
    ledger.mark_empty(eng, run_id, empty)
    if not jobs:
        return []
    published = list(zip(jobs, manifests, strict=True))
    ledger.mark_published(eng, run_id, published)
    seconds = round(time.perf_counter() - started, 3)
    return [{**summary(manifest, str(job.path)), "seconds": seconds} for job, manifest in published]


def publish_purges(
    eng: Engine, purges: list[PurgeJob], run_id: str, secret: bytes | None, signer: Signer
) -> list[dict[str, Any]]:
    """Each purge notice published; the district's watermark for that feed forgotten."""
    summaries = []
    for job in purges:
        key = consumer_key(secret, job.consumer_id) if job.pseudonymised and secret else None
        table = purge_table(eng, job, key)
        manifest = {
            **purge_manifest(job, run_id, job.planned_at.date()),
            "ops": op_counts(table),
        }
        [published] = publish_feeds([(job.path, table, manifest)], signer=signer)
        ledger.mark_purge_published(eng, run_id, job.consumer_id, job.name, published["rows"])
        summaries.append({**summary(published, str(job.path)), "purge": True, "reason": job.reason})
    return summaries
