"""Sink DAG: when a library (or a thematic pool) changes, publish each pilot district's feeds.

One mapped task per pilot district (dynamic task mapping); each writes that district's
feeds for this DAG run's id, so a retry or a re-run rewrites the same bytes (design §7).
Runs are partitioned: Asset events start one keyed ``all`` (every pilot district); a run an
operator triggers with one district's code as its partition key publishes only that district.
Each district's ``feeds`` event carries its code: the aggregate rolls them up. A run keyed
``all`` with an Asset-triggered run queued behind it publishes nothing (``newest_run``: that run
sends the same rows and more; Airflow queues one run per burst of events and does not fold them).
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from tierflow.assets import (
    FEEDS,
    LISTS,
    START_DATE,
    library_assets,
    sink_schedule,
    thematic_pool_assets,
)
from tierflow.contracts import catalog
from tierflow.orchestration import default_args

LIBRARIES = library_assets()
POOLS = thematic_pool_assets(catalog())
# LISTS: a demand decided, revoked or expired (dags/tierflow_demands.py): the policy changed


@dag(
    dag_id="sink__districts",
    description="libraries → incremental feeds of the pilot districts",
    schedule=sink_schedule([*LIBRARIES, *POOLS, LISTS]),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["sink"],
    doc_md=(
        "### District feeds (design §7)\n\n"
        "`newest_run` first skips a run keyed `all` with an Asset-triggered run queued behind it "
        "(that run publishes the same rows and more). "
        "Loads the thematic tables from their pools, then one mapped task per pilot district "
        "writes `feeds/<code>/<feed>/<run_id>/` (Parquet parts, `_manifest.json`, `_SUCCESS`) "
        "— every pilot district for partition `all`, only that district for a district's code — "
        "under the demand and negative lists, masked per the district's clearance. Districts "
        "verify with `tierflow feeds verify DIR` and acknowledge with `tierflow feeds ack`. "
        "`refresh_pull_views` first regenerates every district's pull views (`share_<code>`) "
        "and grants from the same compiled policy."
    ),
)
def sink_dag():
    @task.short_circuit
    def newest_run() -> bool:
        from tierflow.partitions import not_started, superseded_by

        context = get_current_context()
        ti, run = context["ti"], context["dag_run"]
        states = ti.get_task_states(dag_id=run.dag_id, task_ids=[ti.task_id])
        unstarted = not_started(states, ti.task_id, run.run_id)
        queued = [r for r in unstarted if ti.get_dagrun_state(run.dag_id, r) == "queued"]
        later = superseded_by(run.partition_key, queued)
        if later:  # they publish these changes and every one this run would
            print(f"superseded by the queued runs {', '.join(later)}: publishing nothing")
        return not later

    @task
    def load_thematic() -> dict:
        from tierflow.tasks import load_thematic as load

        return load()

    @task
    def refresh_pull_views() -> dict:
        from tierflow.sharing.views import share_refresh

        # the districts' views and grants from today's lists, once, before any feed
        return {"views": share_refresh()["views"]}

    @task
    def pilot_districts() -> list[str]:
        from tierflow.partitions import sink_districts

        key = get_current_context()["dag_run"].partition_key
        return sink_districts(key, list(catalog().divisions.pilot_codes))

    @task(max_active_tis_per_dagrun=4, outlets=[FEEDS])
    def sink_district(district: str, *, outlet_events=None) -> dict:
        from tierflow.tasks import sink_district as sink

        result = sink(district, get_current_context()["run_id"])
        outlet_events[FEEDS].add_partitions(district)  # the aggregate waits for each district
        return result

    districts = pilot_districts()
    newest_run() >> load_thematic() >> refresh_pull_views() >> districts
    sink_district.expand(district=districts)


sink_dag()
