"""Ingest DAGs: one per dataset contract in schemas/datasets (a new contract is a new DAG)."""

from __future__ import annotations

from airflow.sdk import PokeReturnValue, dag, get_current_context, task

from tierflow.alerts import delivery_deadline, missing_delivery_notifiers
from tierflow.assets import (
    START_DATE,
    delivery_date_schedule,
    pool_asset,
)
from tierflow.contracts import catalog
from tierflow.orchestration import (
    TIMEZONE,
    default_args,
    ingest_cron,
    ingest_doc,
    responsibility_for,
)
from tierflow.settings import settings

DEADLINE_ALERTS = settings().deadline_alerts
POKE_SECONDS = settings().sensor_poke_seconds


def build_ingest_dag(dataset_id: str):
    cat = catalog()
    dataset = cat.dataset(dataset_id)
    pool = pool_asset(dataset)

    @dag(
        dag_id=f"ingest__{dataset.table_name}",
        description=f"{dataset.label} ({dataset.owner}) → pool.{dataset.table_name}",
        # each run keyed by its delivery date: a backfill over one day re-runs that date
        schedule=delivery_date_schedule(
            ingest_cron(responsibility_for(cat, dataset)), timezone=TIMEZONE
        ),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(owner=dataset.department),
        tags=[
            "ingest",
            f"department:{dataset.department}",
            f"library:{dataset.library or dataset.thematic}",
        ],
        doc_md=ingest_doc(cat, dataset),
        # TIERFLOW_DEADLINE_ALERTS=0 leaves them out: dag.test() in Airflow 3.3.2 cannot load them
        deadline=delivery_deadline(dataset_id) if DEADLINE_ALERTS else None,
    )
    def ingest_dag():
        @task.sensor(
            poke_interval=POKE_SECONDS,
            timeout=6 * 3600,
            mode="reschedule",
            soft_fail=True,
            on_skipped_callback=missing_delivery_notifiers(dataset_id),
        )
        def wait_for_delivery() -> PokeReturnValue:
            from tierflow.tasks import pending_deliveries

            key = get_current_context()["dag_run"].partition_key
            files = pending_deliveries(dataset_id, partition_key=key)
            return PokeReturnValue(is_done=bool(files), xcom_value=files)

        @task(outlets=[pool])
        def ingest(files: list[str], *, outlet_events=None) -> dict:
            from tierflow.tasks import delivery_dates, ingest_deliveries

            summary = ingest_deliveries(dataset_id, files)
            outlet_events[pool].extra = summary
            # one pool event per delivery date: the merge's runs are keyed by it
            key = get_current_context()["dag_run"].partition_key
            outlet_events[pool].add_partitions(delivery_dates(files, key))
            return summary

        # GX's result and Data Docs, after the load: the pool Asset event (which starts the
        # merge) is the ingest task's, so the report never delays the merge
        @task
        def gx_report(summary: dict) -> dict:
            from tierflow.tasks import gx_reports

            return gx_reports(summary["deliveries"])

        gx_report(ingest(wait_for_delivery()))

    return ingest_dag()


for _dataset in catalog().datasets:
    globals()[f"ingest__{_dataset.table_name}"] = build_ingest_dag(_dataset.id)
