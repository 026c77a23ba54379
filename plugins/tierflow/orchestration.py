"""What the DAG files need from the catalog, without importing anything heavy.

DAG files run at parse time in the dag-processor: they may import this module (pydantic
and YAML only) but never pandas, pyarrow, Great Expectations or a database driver.
"""

from __future__ import annotations

from tierflow.contracts import Catalog, Dataset, Frequency, Responsibility

TIMEZONE = "Asia/Shanghai"


def pool_asset_name(dataset: Dataset) -> str:
    return f"pool.{dataset.table_name}"


def pool_asset_uri(dataset: Dataset) -> str:
    return f"tierflow://pool/{dataset.table_name}"


def responsibility_for(cat: Catalog, dataset: Dataset) -> Responsibility | None:
    for entry in cat.responsibility.responsibilities:
        if entry.dataset == dataset.id:
            return entry
    return None


def ingest_cron(entry: Responsibility | None) -> str:
    """Cron (Asia/Shanghai) at which the delivery is due: the ingest run starts waiting then."""
    if entry is None:
        return "0 6 * * *"
    hour, minute = (int(part) for part in entry.due_time.split(":"))
    if entry.frequency == Frequency.daily:
        return f"{minute} {hour} * * *"
    if entry.frequency == Frequency.weekly:
        cron_weekday = (entry.due_weekday + 1) % 7  # contract: Monday = 0; cron: Sunday = 0
        return f"{minute} {hour} * * {cron_weekday}"
    return f"{minute} {hour} {entry.due_day} * *"


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
        f"sharing: {dataset.sharing.value}; feeds: {dataset.library.value if dataset.library else dataset.thematic}.\n\n"
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
    import os

    from tierflow.alerts import failure_notifiers

    return {
        "owner": owner,
        "on_failure_callback": failure_notifiers(),
        "retries": 2,
        "retry_delay": dt.timedelta(
            seconds=int(os.environ.get("TIERFLOW_RETRY_DELAY_SECONDS", "120"))
        ),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        "execution_timeout": dt.timedelta(hours=2),
    }
