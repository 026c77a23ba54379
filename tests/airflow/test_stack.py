"""The local CeleryExecutor stack (deploy/local/stack.sh) end to end, through the REST API v2.

Starts api-server, scheduler, dag-processor, triggerer and two Celery workers against the
PostgreSQL and Redis of this machine, triggers ingest DAGs of three datasets and checks the
runs succeeded, loaded the deliveries, and that both workers executed tasks. The stack is stopped
even when the test fails; its logs are named in every failure message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import PROJECT_ROOT, drop_database

STACK = PROJECT_ROOT / "deploy" / "local" / "stack.sh"
DATASETS = ("samr.enterprise", "tax.taxpayer", "psb.household")
START_TIMEOUT = 240
RUN_TIMEOUT = 300

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.postgres]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """A tiny REST v2 client: token from /auth/token, JSON in and out."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.token = ""

    def call(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def login(self, username: str, password: str) -> None:
        body = {"username": username, "password": password}
        self.token = self.call("POST", "/auth/token", body, auth=False)["access_token"]


@contextlib.contextmanager
def running_stack(
    warehouse_url: str, tmp_path: Path, services: str | None = None
) -> Iterator[dict[str, Any]]:
    """deploy/local/stack.sh started in ``tmp_path`` (only ``services``, if named), then stopped."""
    import redis

    airflow_home = tmp_path / "airflow"
    port, log_port = _free_port(), _free_port()
    redis_db = 11
    redis.Redis(host="127.0.0.1", port=6379, db=redis_db).flushdb()  # no stale Celery messages
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(airflow_home),
        "TIERFLOW_HOME": str(tmp_path / "home"),
        "TIERFLOW_DATABASE_URL": warehouse_url,
        "TIERFLOW_SENSOR_POKE_SECONDS": "5",
        "STACK_AIRFLOW_DB": f"airflow_stack_{uuid.uuid4().hex[:8]}",
        "STACK_FRESH_DB": "1",
        "STACK_PORT": str(port),
        "STACK_LOG_PORT": str(log_port),
        "STACK_REDIS_DB": str(redis_db),
        "STACK_ADMIN_USER": "ops",
        "STACK_ADMIN_PASSWORD": "ops-password",
        # no TIERFLOW_PSEUDONYM_KEY / TIERFLOW_SIGNING_KEY: the stack provisions both itself
    }
    # the stack runs the code under test: this interpreter's venv, this checkout before any
    # editable install of another one
    env["STACK_BIN"] = str(Path(sys.executable).parent)
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if services:
        env["STACK_SERVICES"] = services
    logs = airflow_home / "logs" / "stack"
    info = {"env": env, "home": tmp_path / "home", "logs": logs, "base": f"http://127.0.0.1:{port}"}
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [str(STACK), "start"], env=env, capture_output=True, text=True, timeout=START_TIMEOUT
        )
        assert done.returncode == 0, f"stack.sh start failed ({logs}):\n{done.stderr[-3000:]}"
        info["start_seconds"] = time.perf_counter() - started
        yield info
    finally:
        subprocess.run([str(STACK), "stop"], env=env, capture_output=True, text=True, timeout=120)
        status = subprocess.run([str(STACK), "status"], env=env, capture_output=True, text=True)
        drop_database(env["STACK_AIRFLOW_DB"])
        assert "running" not in status.stdout, f"stack.sh stop left processes:\n{status.stdout}"


@pytest.fixture()
def stack(warehouse_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with running_stack(warehouse_url, tmp_path) as info:
        yield info


def _wait(predicate, timeout: float, what: str, logs: Path, interval: float = 2.0) -> Any:
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


def _workers_that_ran(logs: Path, dag_id: str, run_id: str, task_id: str) -> set[str]:
    """Which worker logged executing this task instance (Celery logs each workload it runs)."""
    ran = set()
    for name in ("worker1", "worker2"):
        text = (logs / f"{name}.log").read_text(errors="replace")
        for line in text.splitlines():
            if (
                "Executing workload in Celery" in line
                and f"log_path='dag_id={dag_id}/run_id={run_id}/task_id={task_id}/" in line
            ):
                ran.add(name)
    return ran


def test_local_stack_runs_ingest_dags_on_both_celery_workers(stack, warehouse):
    from tierflow.contracts import catalog
    from tierflow.generate import generate

    generate(out=stack["home"], scale=300, seed=5, defect_rate=0.05, datasets=list(DATASETS))
    cat = catalog()
    dag_ids = [f"ingest__{cat.dataset(d).table_name}" for d in DATASETS]
    logs = stack["logs"]
    api = Api(stack["base"])
    # anonymous calls are refused; the configured admin gets a token
    with pytest.raises(urllib.error.HTTPError) as refused:
        api.call("GET", "/api/v2/dags", auth=False)
    assert refused.value.code == 401
    api.login("ops", "ops-password")

    started = time.perf_counter()
    for dag_id in dag_ids:  # the dag-processor parses the folder after start
        _wait(lambda d=dag_id: api.call("GET", f"/api/v2/dags/{d}"), 120, f"{dag_id} parsed", logs)
    # the rest of the chain follows by Assets: pools -> merge -> libraries -> district feeds
    chain = ("merge__person", "merge__legal_entity", "sink__districts")
    for dag_id in chain:
        _wait(lambda d=dag_id: api.call("GET", f"/api/v2/dags/{d}"), 120, f"{dag_id} parsed", logs)
        api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    runs: dict[str, str] = {}
    for dag_id in dag_ids:
        # Trigger for the logical date the scheduler would run next, while still paused: on
        # unpause the scheduler finds that run and does not add its own, which would otherwise
        # race ours for the same files and leave one sensor waiting for a delivery already taken.
        dag = api.call("GET", f"/api/v2/dags/{dag_id}")
        body = {"logical_date": dag["next_dagrun_logical_date"]}
        runs[dag_id] = api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]
        api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def finished() -> dict[str, str] | None:
        states = {
            d: api.call("GET", f"/api/v2/dags/{d}/dagRuns/{r}")["state"] for d, r in runs.items()
        }
        return states if all(s in ("success", "failed") for s in states.values()) else None

    states = _wait(finished, RUN_TIMEOUT, "the DAG runs to finish", logs, interval=3)
    run_seconds = time.perf_counter() - started
    assert set(states.values()) == {"success"}, f"{states}; logs: {logs}"

    workers: set[str] = set()
    for dag_id, run_id in runs.items():
        tis = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        tasks = {t["task_id"]: t for t in tis["task_instances"]}
        assert {t["state"] for t in tasks.values()} == {"success"}, tasks
        for task_id in tasks:
            ran = _workers_that_ran(logs, dag_id, run_id, task_id)
            assert ran, f"no worker logged {dag_id}/{run_id}/{task_id}; logs: {logs}"
            workers |= ran
    assert workers == {"worker1", "worker2"}, f"tasks ran only on {workers}; logs: {logs}"

    # the pool Asset events drove the merges and the sink: verified district feeds exist
    def feeds_published() -> list[Path]:
        return sorted((stack["home"] / "feeds").glob("*/*/*/_SUCCESS"))

    published = _wait(
        feeds_published, RUN_TIMEOUT, "district feeds from the asset-driven chain", logs, 5
    )
    from tierflow.sink import verify_feed
    from tierflow.sink.signing import key_id, parse_private_key

    # the stack generated its secrets once, 0600, and its processes got only their paths
    airflow_home = Path(stack["env"]["AIRFLOW_HOME"])
    secrets = {name: airflow_home / "secrets" / f"{name}.key" for name in ("pseudonym", "signing")}
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in secrets.values())
    public = parse_private_key(secrets["signing"].read_text()).public_key()
    keys = {key_id(public): public}
    assert all(verify_feed(p.parent, keys)["ok"] for p in published[:10])
    needles = [f.read_text().strip().encode() for f in secrets.values()]
    for path in airflow_home.rglob("*"):  # logs, stack.env, configs: never a secret's value
        if path.is_file() and path.parent.name != "secrets":
            content = path.read_bytes()
            assert not any(n in content for n in needles), f"a secret is in {path}"
    assert {p.parts[-4] for p in published} <= set(cat.divisions.pilot_codes)

    with warehouse.connect() as conn:
        loaded = dict(
            conn.execute(
                sa.text(
                    "select dataset, sum(rows_in) from quality.delivery where status = 'loaded'"
                    " and file_path like :home group by dataset"
                ),
                {
                    "home": f"{stack['home']}/%"
                },  # the session's warehouse also holds other tests' loads
            ).all()
        )
    assert set(loaded) == set(DATASETS) and all(n > 0 for n in loaded.values()), loaded

    # the plugin page is served by the stack's api-server, behind the same login
    page = urllib.request.Request(
        stack["base"] + "/tierflow/", headers={"Authorization": f"Bearer {api.token}"}
    )
    with urllib.request.urlopen(page, timeout=30) as response:
        html = response.read().decode()
    for dataset in DATASETS:
        assert re.search(rf'data-dataset="{re.escape(dataset)}"[^>]*>', html)
    assert html.count('class="point"') >= len(DATASETS)
    print(
        f"stack start {stack['start_seconds']:.0f}s, three ingest runs {run_seconds:.0f}s, "
        f"workers {sorted(workers)}"
    )
