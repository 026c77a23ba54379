"""The runner: a run's statements on worker threads, each district published when whole.

Every statement reads one cut (:mod:`tierflow.sink.cut`): on one server a snapshot exported
by a transaction held open meanwhile, so statements over ranges of one source's pages see each
row version in exactly one range; on Citus the windows' bounds.
``workers`` threads run statements and as many publish the districts they complete; rows
wait in a :class:`RowStore`, spilled to disk when the run is big. Threads suffice: COPY,
binary parsing, sorting, masking, Parquet writing and fsync release the GIL.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

from tierflow import config
from tierflow.db import serves_citus
from tierflow.settings import settings
from tierflow.sink import cut
from tierflow.sink.extract import extract_batch
from tierflow.sink.planning import SourceSize, Statement, plan_statements, source_sizes
from tierflow.sink.publication import publish_district
from tierflow.sink.spill import RowStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tierflow.sink.ledger import FeedJob
    from tierflow.sink.signing import Signer


def _extract(eng: Engine, statement: Statement, store: RowStore, snapshot: str | None) -> None:
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


def sink_jobs(
    eng: Engine,
    jobs: list[FeedJob],
    run_id: str,
    secret: bytes | None,
    workers: int,
    signer: Signer,
) -> list[dict[str, Any]]:
    """Extract every job's rows and publish each district as soon as it is whole; returns
    the published feeds' summaries, districts in the order of ``jobs``."""
    started = time.perf_counter()
    by_district: dict[str, list[FeedJob]] = {}
    for job in jobs:
        by_district.setdefault(job.plan.division_code, []).append(job)
    with eng.connect() as holder:
        holder = holder.execution_options(isolation_level="REPEATABLE READ")
        with holder.begin():
            citus = serves_citus(eng)
            snapshot = cut.snapshot(holder, citus)
            sizes = source_sizes(holder, {j.plan.source.table: j.plan.source for j in jobs})
            if citus:  # no ranges of pages without one snapshot (see sink.cut)
                sizes = {t: SourceSize(s.rows, 0) for t, s in sizes.items()}
            statements = plan_statements(jobs, secret, workers, sizes)
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
                                                publish_district,
                                                eng,
                                                by_district[code],
                                                run_id,
                                                started,
                                                store,
                                                signer,
                                            )
                                        )

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
