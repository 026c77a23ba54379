"""Audit DAG: every morning, judge yesterday's due deliveries against the responsibility list.

The check task fails when a delivery is late or missing; its failure callback records and
logs the alert (issue 6 adds notifiers).
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task

from tierflow.assets import (
    START_DATE,
)
from tierflow.orchestration import TIMEZONE, default_args


def late_delivery_alert(context: dict) -> None:
    from tierflow.quality.audit import late_delivery_callback

    late_delivery_callback(context)


@dag(
    dag_id="audit__deliveries",
    description="responsibility list → due, late and missing deliveries; quarantine rates",
    schedule=CronTriggerTimetable("0 9 * * *", timezone=TIMEZONE),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["audit"],
    doc_md=(
        "### Delivery audit (责任清单)\n\n"
        "Stores each due delivery's outcome in `quality.delivery_audit` and daily quarantine "
        "rates in `quality.quarantine_rate`; `tierflow quality report` shows them. "
        "`check_deliveries` fails on late or missing deliveries and raises the alert callback."
    ),
)
def audit_dag():
    @task
    def audit() -> dict:
        from tierflow.quality.audit import audit_deliveries

        return audit_deliveries()

    @task(retries=0, on_failure_callback=late_delivery_alert)
    def check_deliveries(result: dict) -> None:
        from tierflow.quality.audit import check_deliveries as check

        check(result)

    check_deliveries(audit())


audit_dag()
