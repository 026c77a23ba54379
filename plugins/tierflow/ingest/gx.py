"""Great Expectations on a bounded sample of a delivery, on a second thread.

Row-level quarantine and the exact per-expectation counts come from the vectorised masks
(``tierflow.ingest.check``); GX validates the same rules on the first rows of the delivery
(all of it when small) for its own verdict and Data Docs: GX on whole multi-million-row
frames costs more than the load itself. Its import (~4 s) overlaps reading and checking, and
its validation overlaps the publish, where the ingest thread only waits on PostgreSQL.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tierflow import config, storage

if TYPE_CHECKING:
    from tierflow.checks.rules import RuleContext
    from tierflow.contracts import Dataset

log = logging.getLogger(__name__)


class GxSample:
    """The sample and its validation; does nothing when ``enabled`` is false."""

    def __init__(self, enabled: bool, sample_rows: int) -> None:
        self.enabled = enabled
        self.sample_rows = sample_rows
        self.frames: list[pa.Table] = []
        self.rows = 0
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="tierflow-gx") if enabled else None
        self.future: Future[dict[str, Any] | None] | None = None

    def warm_up(self) -> None:
        if self.worker is not None:
            self.worker.submit(_warm_up)

    def collect(self, table: pa.Table) -> None:
        if self.enabled and self.rows < self.sample_rows and table.num_rows:
            take = table.slice(0, self.sample_rows - self.rows)
            self.frames.append(take)
            self.rows += take.num_rows

    def start(self, dataset: Dataset, ctx: RuleContext, rows_in: int) -> None:
        if self.worker is not None:
            self.future = self.worker.submit(_run, dataset, self.frames, ctx, rows_in)

    def result(self) -> dict[str, Any] | None:
        return self.future.result() if self.future is not None else None

    def close(self) -> None:
        """Done by now unless the load failed: then don't wait for it."""
        if self.worker is not None:
            self.worker.shutdown(wait=False, cancel_futures=True)


def _warm_up() -> None:
    from tierflow.checks import suites

    suites.warm_up()


def _run(
    dataset: Dataset, frames: list[pa.Table], ctx: RuleContext, rows_in: int
) -> dict[str, Any] | None:
    if not frames:
        return None
    from tierflow.checks import suites

    sample = pa.concat_tables(frames)
    result = suites.run_suite(dataset, sample.to_pandas(), township_prefixes=ctx.township_prefixes)
    summary = suites.summarise(result)
    summary["scope"] = "full" if sample.num_rows >= rows_in else f"sample:{sample.num_rows}"
    summary["validation_result"] = result
    return summary


def write_data_docs(summary: dict[str, Any]) -> None:
    from tierflow.checks import suites

    result = summary.get("validation_result")
    if result is None:
        return
    try:
        index = suites.build_data_docs(result, config.docs_build_dir())
        published = storage.docs_dir()
        if storage.url(published) != storage.url(config.docs_build_dir()):
            # built in the local GX project, published under TIERFLOW_STORAGE (S3 or elsewhere)
            storage.mirror(index.parent, published / suites.DOCS_SITE)
    except Exception as exc:  # noqa: BLE001 - docs are a view; the delivery is already safely loaded
        log.warning("GX Data Docs not rendered: %s", exc)
