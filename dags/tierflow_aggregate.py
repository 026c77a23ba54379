"""Aggregate DAG: tiers village → township → district → city, and the upward report."""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from tierflow.assets import (
    AGGREGATES,
    START_DATE,
    aggregate_schedule,
)
from tierflow.orchestration import default_args


@dag(
    dag_id="aggregate__tiers",
    description="libraries and thematic tables → thematic.tier_aggregate and the upward report",
    # after the sink: the pilot districts' feed partitions (every library change runs the sink,
    # whose run loads the thematic tables the aggregation reads), waited for as
    # schemas/partitions.yaml says
    schedule=aggregate_schedule(),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["aggregate"],
    doc_md=(
        "### Tier aggregation\n\n"
        "Population (gender × age band, alive), legal entities (industry section × status), "
        "e-licenses (type × status), service cases (count, median hours, mean rating) and "
        "truck vehicle-days, rolled up village → township → district → city into "
        "`thematic.tier_aggregate`; the city and district tiers are published as the upward "
        "report `reports/national/<run_id>/` with its own manifest. Runs keyed `city` once the "
        "pilot districts' `feeds` partitions are in (`schemas/partitions.yaml`: all, or a "
        "minimum); the manifest's `districts` names those in and those missing."
    ),
)
def aggregate_dag():
    @task(outlets=[AGGREGATES])
    def aggregate() -> dict:
        from tierflow.tasks import aggregate_tiers, districts_in

        context = get_current_context()
        events = context["triggering_asset_events"]
        return aggregate_tiers(context["run_id"], districts_in(context["dag_run"], events))

    aggregate()


aggregate_dag()
