"""Aggregate DAG: tiers village → township → district → city, and the upward report."""

from __future__ import annotations

from airflow.sdk import AssetAny, dag, get_current_context, task

from tierflow.assets import (
    AGGREGATES,
    FEEDS,
    START_DATE,
    library_assets,
)
from tierflow.orchestration import default_args

LIBRARIES = library_assets()


@dag(
    dag_id="aggregate__tiers",
    description="libraries and thematic tables → thematic.tier_aggregate and the upward report",
    # after the sink: its run has loaded the thematic tables the aggregation reads
    schedule=AssetAny(*LIBRARIES, FEEDS),
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
        "report `reports/national/<run_id>/` with its own manifest."
    ),
)
def aggregate_dag():
    @task(outlets=[AGGREGATES])
    def aggregate() -> dict:
        from tierflow.tasks import aggregate_tiers

        return aggregate_tiers(get_current_context()["run_id"])

    aggregate()


aggregate_dag()
