"""Demands review DAG: one human approval per pending demand, and the daily expiry.

Each pending demand gets a Human-in-the-loop task (dynamic task mapping); its outcome is
recorded through the same function as ``tierflow demands decide``. A decision or an expiry
updates the ``sharing.lists`` Asset, which the sink DAG listens to.
"""

from __future__ import annotations

import datetime as dt

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag, get_current_context, task

from tierflow.assets import (
    LISTS,
    START_DATE,
)
from tierflow.orchestration import default_args

RESPONSE_TIMEOUT = dt.timedelta(days=7)  # tierflow.sharing.review.RESPONSE_TIMEOUT


@dag(
    dag_id="demands__review",
    description="pending demands → a human approval each; approvals past their validity expire",
    schedule="0 6 * * *",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["sharing"],
    doc_md=(
        "### Demand review\n\n"
        "`expire_demands` marks approvals past their last valid day expired. Then one "
        "`review` task per pending demand waits for Approve or Reject (Required Actions); "
        "`record_decisions` records every outcome as `tierflow demands decide` would. A review "
        "unanswered for 7 days resolves to Reject and is recorded as rejected by `airflow`."
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
        from tierflow.sharing.review import pending_reviews

        return pending_reviews(db.engine())

    @task
    def requests(reviews: list[dict]) -> list[dict]:
        return [
            {"subject": r["subject"], "body": r["body"], "assigned_users": r["assigned_users"]}
            for r in reviews
        ]

    @task(trigger_rule="all_done", outlets=[LISTS])
    def record_decisions(reviews: list[dict], *, outlet_events=None) -> dict:
        from tierflow import db
        from tierflow.partitions import ALL_DISTRICTS
        from tierflow.sharing.review import record_review

        outlet_events[LISTS].add_partitions(ALL_DISTRICTS)
        ti = get_current_context()["ti"]
        decided = {}
        for index, review in enumerate(reviews):
            outcome = ti.xcom_pull(task_ids="review", map_indexes=index)
            demand = record_review(db.engine(), review["demand_id"], outcome, RESPONSE_TIMEOUT)
            decided[demand["id"]] = demand["status"]
        return decided

    reviews = pending()
    asks = HITLOperator.partial(
        task_id="review",
        options=["Approve", "Reject"],
        defaults=["Reject"],
        response_timeout=RESPONSE_TIMEOUT,
        params={"reason": Param("", type="string", description="why (recorded)")},
    ).expand_kwargs(requests(reviews))
    expire_demands() >> reviews
    asks >> record_decisions(reviews)


demands_review()
