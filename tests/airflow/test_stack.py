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


REDIS_CLAIM = "tierflow-test-stack"
REDIS_DBS = range(11, 16)


def _claim_redis_db(redis: Any, owner: str) -> tuple[Any, int]:
    """An empty Redis database, claimed until the stop, as this stack's Celery broker: two
    stacks on one broker run each other's tasks (tests run in parallel on one machine), and a
    database with keys may be another stack's, so it is never flushed."""
    for number in REDIS_DBS:
        broker = redis.Redis(host="127.0.0.1", port=6379, db=number)
        if broker.set(REDIS_CLAIM, owner, nx=True, ex=3 * 3600):
            if broker.dbsize() == 1:
                return broker, number
            broker.delete(REDIS_CLAIM)  # keys of a stack running (or killed) without a claim
    pytest.fail(
        f"no empty Redis database among {list(REDIS_DBS)}: each is claimed or holds keys"
        " (a killed stack's: redis-cli -n N flushdb)"
    )


@contextlib.contextmanager
def running_stack(
    warehouse_url: str, tmp_path: Path, services: str | None = None
) -> Iterator[dict[str, Any]]:
    """deploy/local/stack.sh started in ``tmp_path`` (only ``services``, if named), then stopped."""
    import redis

    airflow_home = tmp_path / "airflow"
    port, log_port = _free_port(), _free_port()
    broker, redis_db = _claim_redis_db(redis, str(tmp_path))
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
        broker.flushdb()  # its Celery keys and the claim: free for the next stack
        assert "running" not in status.stdout, f"stack.sh stop left processes:\n{status.stdout}"


@pytest.fixture(scope="module")
def stack(warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One stack per test module: its tests share it (a start takes about a minute of CI)."""
    with running_stack(warehouse_url, tmp_path_factory.mktemp("stack")) as info:
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


def test_a_demand_reviewed_over_the_rest_api_flows_into_the_next_feed(stack, warehouse):
    """A district files a demand with the CLI; ``demands__review`` under the real scheduler
    opens its Human-in-the-loop request; the owner approves it through the REST API; the trail
    says who and why; the decision's Asset event runs the sink, whose next feed for that
    district carries exactly the approved fields. A CLI negative-list change raises the same
    Asset event through the REST API and runs the sink again."""
    from tests.review_flow import (
        REVIEW_DAG,
        file_only_pending_demand,
        review_request,
        run_state,
        start_review,
        tierflow,
        wait,
    )

    logs, api = stack["logs"], Api(stack["base"])
    api.login("ops", "ops-password")
    fields = ["parcel_id", "land_use_code", "division_code"]
    # 江北区 (d500105): its only land-parcel demand expired in 2025, so no such feed yet
    feed_root = stack["home"] / "feeds" / "500105" / "land_parcel"
    assert not list(feed_root.glob("*/_SUCCESS"))
    demand_id = file_only_pending_demand(
        stack,
        consumer="d500105",
        dataset="mnr.land_parcel",
        fields=",".join(fields),
        purpose="耕地保护巡查（续期）",
        valid_days="90",
        by="江北区 王五",
    )
    run_id = start_review(api, stack)
    hitl = review_request(api, stack, run_id, demand_id)
    assert hitl["options"] == ["Approve", "Reject"] and "parcel_id" in hitl["body"]
    ti = hitl["task_instance"]
    path = (
        f"/api/v2/dags/{REVIEW_DAG}/dagRuns/{run_id}/taskInstances/{ti['task_id']}"
        f"/{ti['map_index']}/hitlDetails"
    )
    answer = {"chosen_options": ["Approve"], "params_input": {"reason": "同意：耕保巡查续期"}}
    answered = api.call("PATCH", path, answer)
    assert answered["responded_by"]["name"] == "ops"
    state = wait(lambda: run_state(api, REVIEW_DAG, run_id), RUN_TIMEOUT, "the review run", logs)
    assert state == "success", f"{REVIEW_DAG} {run_id}: {state}; logs: {logs}"

    shown = tierflow(stack, "demands", "show", demand_id)
    assert shown["demand"]["status"] == "approved", shown
    assert shown["demand"]["decided_by"] == "ops"
    assert shown["demand"]["reason"] == "同意：耕保巡查续期"
    assert [(e["kind"], e["actor"]) for e in shown["events"]] == [
        ("demand_requested", "江北区 王五"),
        ("demand_decided", "ops"),
    ]

    # the decision's Asset event ran the sink: the district's first land-parcel feed
    published = wait(
        lambda: sorted(feed_root.glob("*/_SUCCESS")), RUN_TIMEOUT, "the land-parcel feed", logs, 5
    )
    manifest = json.loads((published[-1].parent / "_manifest.json").read_text())
    columns = [c["name"] for c in manifest["schema"]]
    assert columns[:2] == ["op", "changed_at"] and sorted(columns[2:]) == sorted(fields), columns
    assert manifest["demand_ids"] == [demand_id]

    # a negative-list entry added with the CLI: the same Asset, through the REST API
    basis = "《土地管理法》第二十条：用途分类在规划公布前不予共享"
    added = tierflow(
        stack, "negative", "add", "mnr.land_parcel", "land_use_code", "--legal-basis", basis,
        "--by", "规划自然资源局 李四",
    )  # fmt: skip
    event = added["asset_event"]
    assert event["sent"] is True and event["asset"] == "sharing.lists", event

    (lists,) = api.call("GET", "/api/v2/assets?uri_pattern=tierflow://sharing/lists")["assets"]
    events = api.call("GET", f"/api/v2/assets/events?asset_id={lists['id']}&limit=100")
    (ours,) = [e for e in events["asset_events"] if e["id"] == event["event_id"]]
    assert ours["extra"]["change"] == "negative_added", ours

    # the sink follows (a run the event starts, or one whose districts run after it: Airflow
    # may fold an event that arrives while a queued run is created into that run): the next
    # land-parcel feed withholds the field and quotes the law
    def narrowed() -> dict | None:
        for done in sorted(feed_root.glob("*/_SUCCESS")):
            feed = json.loads((done.parent / "_manifest.json").read_text())
            if "land_use_code" in feed["withheld"]:
                return feed
        return None

    feed = _wait(narrowed, RUN_TIMEOUT, "a land-parcel feed without land_use_code", logs, 5)
    assert feed["withheld"] == {"land_use_code": basis}, feed["withheld"]
    assert [c["name"] for c in feed["schema"]][2:] == ["parcel_id", "division_code"], feed
    print(f"review {run_id}: {demand_id} approved by ops; feed {published[-1].parent.name}")
