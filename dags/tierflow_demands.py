"""Demand review DAGs: the daily expiry, and one human review run per pending demand.

``demands__review`` (daily, and on each ``sharing.demands`` Asset event, raised by ``tierflow
demands request``) expires approvals past their validity, then opens a ``demands__review_demand``
run per pending demand, keyed by the demand (``demand__<id>``): a run of that id that exists
already (its review still waiting) is skipped, so no demand gets two open reviews and a new
demand's review opens while older ones wait. Each review run holds one Human-in-the-loop task
and records its own outcome through the same function as ``tierflow demands decide``; a
decision or an expiry updates the ``sharing.lists`` Asset, which the sink DAG listens to.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import (
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)

from tierflow.assets import DEMANDS, LISTS, START_DATE
from tierflow.orchestration import default_args

RESPONSE_TIMEOUT = dt.timedelta(days=7)  # tierflow.sharing.review.RESPONSE_TIMEOUT
DEMAND_REVIEW_DAG = "demands__review_demand"  # tierflow.sharing.review.DEMAND_REVIEW_DAG
OPEN_REVIEWS = 200  # reviews waiting at once (a waiting review holds no worker slot)


@dag(
    dag_id="demands__review",
    description="approvals past their validity expire; each pending demand gets its review run",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"), assets=DEMANDS
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["sharing"],
    doc_md=(
        "### Demand review\n\n"
        "`expire_demands` marks approvals past their last valid day expired. Then "
        "`open_review` starts one `demands__review_demand` run per pending demand, run id "
        "`demand__<id>`; one that exists already (its review waiting) is skipped."
    ),
)
def demands_review():
    @task(outlets=[LISTS])
    def expire_demands(*, outlet_events=None) -> dict:
        from tierflow import db
        from tierflow.partitions import ALL_DISTRICTS
        from tierflow.sharing.store import expire_demands as expire

        outlet_events[LISTS].add_partitions(ALL_DISTRICTS)  # the sink's runs are partitioned
        return expire(db.engine())

    @task
    def pending() -> list[dict]:
        from tierflow import db
        from tierflow.sharing.review import review_runs

        return review_runs(db.engine())

    runs = pending()
    expire_demands() >> runs
    TriggerDagRunOperator.partial(
        task_id="open_review",
        trigger_dag_id=DEMAND_REVIEW_DAG,
        logical_date=None,
        skip_when_already_exists=True,
        wait_for_completion=False,
    ).expand_kwargs(runs)


@dag(
    dag_id=DEMAND_REVIEW_DAG,
    description="one demand's review: a human approval, recorded as `tierflow demands decide`",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=OPEN_REVIEWS,
    is_paused_upon_creation=False,  # started only by demands__review, which is paused itself
    default_args=default_args(),
    tags=["sharing"],
    doc_md=(
        "### One demand's review\n\n"
        "`review` waits for Approve or Reject (Required Actions), assigned to the approvers of "
        "the dataset's department other than the requester; `record_decision` records it as "
        "`tierflow demands decide` would. Unanswered for 7 days, it resolves to Reject, recorded "
        "as rejected by `airflow`. Started by `demands__review`, run id `demand__<id>`."
    ),
)
def demands_review_demand():
    @task
    def request() -> list[dict]:
        from tierflow import db
        from tierflow.sharing.review import review_request

        conf = get_current_context()["dag_run"].conf or {}
        return review_request(db.engine(), str(conf.get("demand_id", "")))

    @task(outlets=[LISTS])
    def record_decision(*, outlet_events=None) -> dict:
        from tierflow import db
        from tierflow.partitions import ALL_DISTRICTS
        from tierflow.sharing.review import record_review

        # keyed for every district: the sink's runs are partitioned (tierflow.partitions)
        outlet_events[LISTS].add_partitions(ALL_DISTRICTS)
        context = get_current_context()
        outcome = context["ti"].xcom_pull(task_ids="review", map_indexes=0)
        demand_id = str((context["dag_run"].conf or {}).get("demand_id", ""))
        demand = record_review(db.engine(), demand_id, outcome)
        return {demand["id"]: demand["status"]}

    asks = HITLOperator.partial(
        task_id="review",
        options=["Approve", "Reject"],
        defaults=["Reject"],
        response_timeout=RESPONSE_TIMEOUT,
        params={"reason": Param("", type="string", description="why (recorded)")},
    ).expand_kwargs(request())
    asks >> record_decision()


demands_review()
demands_review_demand()
