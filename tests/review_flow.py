"""The demand review against a running stack (deploy/local/stack.sh): file a demand with the
CLI, run ``demands__review`` under the real scheduler, find the Human-in-the-loop request of
the demand's own review run (``demands__review_demand``, run id ``demand__<id>``).

Shared by the stack test (answered over the REST API) and the browser test (answered in the
Airflow UI under "Required Actions").
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

REVIEW_DAG = "demands__review"
DEMAND_REVIEW_DAG = "demands__review_demand"
SINK_DAG = "sink__districts"
RUN_TIMEOUT = 300


def cli_env(stack: dict[str, Any], user: str = "ops", password: str = "ops-password") -> dict:
    """The stack's environment, plus where the CLI announces its changes to Airflow."""
    return {
        **stack["env"],
        "TIERFLOW_AIRFLOW_API_URL": stack["base"],
        "TIERFLOW_AIRFLOW_API_USER": user,
        "TIERFLOW_AIRFLOW_API_PASSWORD": password,
    }


def tierflow(stack: dict[str, Any], *argv: str) -> dict[str, Any]:
    """``tierflow ARGV --json`` as an operator runs it beside the stack; its JSON answer."""
    done = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", *argv, "--json"],
        env=cli_env(stack),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"tierflow {' '.join(argv)}: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def wait(predicate, timeout: float, what: str, logs: Path, interval: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (urllib.error.URLError, ConnectionError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r}; logs: {logs})")


def file_only_pending_demand(stack: dict[str, Any], **request: str) -> str:
    """Import the seed, decide every other pending demand with the CLI (so the only review
    opened is this test's), file this one."""
    tierflow(stack, "lists", "import")
    for other in tierflow(stack, "demands", "list", "--status", "pending")["demands"]:
        tierflow(
            stack, "demands", "decide", other["id"], "--reject", "--by", "ops", "--reason",
            "cleared before the review test",
        )  # fmt: skip
    args = [f"--{k.replace('_', '-')}={v}" for k, v in request.items()]
    return tierflow(stack, "demands", "request", *args)["demand"]["id"]


def start_review(api: Any, stack: dict[str, Any]) -> str:
    """Trigger ``demands__review`` (and let the sink follow its Asset); the run id."""
    logs = stack["logs"]
    for dag_id in (REVIEW_DAG, DEMAND_REVIEW_DAG, SINK_DAG):
        wait(lambda d=dag_id: api.call("GET", f"/api/v2/dags/{d}"), 120, f"{dag_id} parsed", logs)
    api.call("PATCH", f"/api/v2/dags/{SINK_DAG}", {"is_paused": False})
    # the logical date the scheduler would run next, while still paused: on unpause it finds
    # this run and adds none of its own (see test_local_stack_runs_ingest_dags_on_both_...)
    dag = api.call("GET", f"/api/v2/dags/{REVIEW_DAG}")
    body = {"logical_date": dag["next_dagrun_logical_date"]}
    run_id = api.call("POST", f"/api/v2/dags/{REVIEW_DAG}/dagRuns", body)["dag_run_id"]
    api.call("PATCH", f"/api/v2/dags/{REVIEW_DAG}", {"is_paused": False})
    return run_id


def review_path(demand_id: str) -> str:
    """The REST path of the demand's review (its run's one ``review`` task): GET, PATCH."""
    from tierflow.sharing.review import review_run_id

    return (
        f"/api/v2/dags/{DEMAND_REVIEW_DAG}/dagRuns/{review_run_id(demand_id)}"
        "/taskInstances/review/0/hitlDetails"
    )


def review_request(api: Any, stack: dict[str, Any], demand_id: str) -> dict:
    """The Human-in-the-loop request of ``demand_id``'s review run, once it waits for an
    answer (until its run exists the API answers 404: asked again)."""
    from tierflow.sharing.review import review_run_id

    run = review_run_id(demand_id)

    def found() -> dict | None:
        details = api.call("GET", f"/api/v2/dags/{DEMAND_REVIEW_DAG}/dagRuns/{run}/hitlDetails")
        mine = [d for d in details["hitl_details"] if d["subject"].startswith(f"{demand_id}:")]
        return mine[0] if mine else None

    return wait(found, RUN_TIMEOUT, f"the review of {demand_id}", stack["logs"], 3)


def review_state(api: Any, demand_id: str) -> str | None:
    """The state of the demand's review run once finished (None while it waits)."""
    from tierflow.sharing.review import review_run_id

    return run_state(api, DEMAND_REVIEW_DAG, review_run_id(demand_id))


def run_state(api: Any, dag_id: str, run_id: str) -> str | None:
    state = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
    return state if state in ("success", "failed") else None
