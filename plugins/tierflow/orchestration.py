"""What the DAG files need from the catalog, without importing anything heavy.

DAG files run at parse time in the dag-processor: they may import this module (pydantic
and YAML only) but never pandas, pyarrow, Great Expectations or a database driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierflow.clock import TIMEZONE
from tierflow.quality.calendar import ingest_cron, responsibility_for
from tierflow.settings import settings

if TYPE_CHECKING:
    from tierflow.contracts import Catalog, Dataset

__all__ = ["TIMEZONE", "ingest_cron", "responsibility_for"]


def pool_asset_name(dataset: Dataset) -> str:
    return f"pool.{dataset.table_name}"


def pool_asset_uri(dataset: Dataset) -> str:
    return f"tierflow://pool/{dataset.table_name}"


def ingest_doc(cat: Catalog, dataset: Dataset) -> str:
    entry = responsibility_for(cat, dataset)
    due = (
        f"{entry.frequency.value}, due {entry.due_time} {TIMEZONE}"
        if entry
        else "no responsibility entry"
    )
    rows = "\n".join(
        f"| `{c.name}` | {c.label} | {c.type.value} | {'' if c.nullable else 'required'} | {c.level} |"
        for c in dataset.columns
    )
    return (
        f"### {dataset.label} — `{dataset.id}`\n\n"
        f"{dataset.title}. Delivered by **{dataset.owner}** (`{dataset.department}`), {due}; "
        f"sharing: {dataset.sharing.value}; feeds: {dataset.library or dataset.thematic}.\n\n"
        f"Waits for `landing/{dataset.department}/{dataset.id}/<date>/<file>` with a `.ready` marker, checks it with the "
        f"Great Expectations suite `expectations/{dataset.id}.json` (blocking rules quarantine the row, warnings count it), "
        f"loads accepted rows into `pool.{dataset.table_name}` and emits the asset `{pool_asset_name(dataset)}`.\n\n"
        f"| column | label | type | | level |\n|---|---|---|---|---|\n{rows}\n"
    )


def default_args(owner: str = "tierflow") -> dict:
    """Retries with exponential backoff and a timeout, shared by every DAG.

    ``TIERFLOW_RETRY_DELAY_SECONDS`` shortens the first retry delay (tests retry in seconds).
    """
    import datetime as dt

    from tierflow.alerts import failure_notifiers
    from tierflow.lineage import fresh_collector

    return {
        "owner": owner,
        "on_execute_callback": fresh_collector,  # each task reports only what it touched
        "on_failure_callback": failure_notifiers(),
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=settings().retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        "execution_timeout": dt.timedelta(hours=2),
    }
