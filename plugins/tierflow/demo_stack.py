"""``tierflow demo --ui``: the demo as it runs, under Airflow's real scheduler, with its UI left up.

The local stack (``deploy/local/stack.sh``: api-server, scheduler, dag-processor, triggerer, two
Celery workers) is started with its Airflow home at ``$TIERFLOW_HOME/airflow``; with no database
configured, both the warehouse and Airflow's metadata live on the embedded PostgreSQL (its
``tierflow`` and ``airflow`` databases). The demo's secrets (``tierflow.secrets``) are handed to
the processes by path. The demo's deliveries are dropped in ``landing/``, the merge, sink and
aggregate DAGs unpaused and every ingest DAG with a delivery waiting run (the deliveries dated
for the run its schedule makes on unpause: ``_trigger_ingests``); their pool,
library and feed Asset events then drive the rest, as in production. ``tierflow demo --stop``
stops the stack and the embedded server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tierflow import config, db, storage
from tierflow.errors import TierflowError
from tierflow.settings import PROJECT_ROOT

STACK = PROJECT_ROOT / "deploy" / "local" / "stack.sh"
PARSE_TIMEOUT = 240
CHAIN_TIMEOUT = 1800
FINISHED = ("success", "failed")
CHAIN_DAGS = ("sink__districts", "aggregate__tiers")  # after merge__<library>, by Assets


class DemoStackFailed(TierflowError):
    """The stack did not start, or a demo DAG run failed or did not finish in time."""


def airflow_home() -> Path:
    return config.data_root() / "airflow"


class Api:
    """Airflow's REST API v2 with the stack's login: token from ``/auth/token``, JSON in and out."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base, self.token = base, ""
        body = {"username": username, "password": password}
        self.token = self.call("POST", "/auth/token", body)["access_token"]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None


def _stack_env() -> dict[str, str]:
    """What stack.sh gets: this environment, the demo's homes, and the embedded server's URLs."""
    import os

    env = dict(os.environ)
    env.update(AIRFLOW_HOME=str(airflow_home()), TIERFLOW_HOME=str(config.data_root()))
    env.setdefault("STACK_BIN", str(Path(sys.executable).parent))  # this install's airflow
    if not db.is_configured():
        url = db.start_embedded()  # over its Unix socket: no port to collide with
        metadata = url.set(drivername="postgresql+psycopg2", database="airflow")
        # the socket folder unquoted: Airflow's config reads "%" as interpolation
        for name, each in (("TIERFLOW_DATABASE_URL", url), ("STACK_AIRFLOW_DB_URL", metadata)):
            env[name] = unquote(each.render_as_string(hide_password=False))
    return env


def _stack(action: str, env: dict[str, str]) -> None:
    # stack.sh's own progress lines go straight to the user's terminal (stderr)
    done = subprocess.run([str(STACK), action], env=env, stdout=sys.stderr, timeout=600)
    if done.returncode != 0:
        raise DemoStackFailed(f"deploy/local/stack.sh {action} failed (logs: {_logs()})")


def _logs() -> Path:
    return airflow_home() / "logs" / "stack"


def _login() -> tuple[str, str, str]:
    """The URL and login stack.sh configured (stack.env and the auth manager's password file)."""
    home = airflow_home()
    settings = dict(
        line.removeprefix("export ").split("=", 1)
        for line in (home / "stack.env").read_text().splitlines()
        if line.startswith("export ")
    )
    base = settings["AIRFLOW__API__BASE_URL"].strip("'")
    user, password = next(
        iter(json.loads((home / "simple_auth_manager_passwords.json").read_text()).items())
    )
    return base, user, password


def demo_dags() -> dict[str, list[str]]:
    """The demo's DAGs by stage: one ingest DAG per contract, one merge DAG per library, …"""
    from tierflow.contracts import catalog
    from tierflow.merge.survivorship import libraries

    return {
        "ingest": [f"ingest__{ds.table_name}" for ds in catalog().datasets],
        "merge": [f"merge__{lib}" for lib in libraries()],
        "chain": list(CHAIN_DAGS),
    }


def _wait(predicate: Any, timeout: float, what: str, interval: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := predicate():
                return result
        except (urllib.error.URLError, ConnectionError):
            pass  # the api-server restarting a worker: ask again
        time.sleep(interval)
    raise DemoStackFailed(f"timed out after {timeout:.0f} s waiting for {what} (logs: {_logs()})")


def _trigger_ingests(api: Api, dag_ids: list[str], generated: bool) -> dict[str, str]:
    """Run each ingest DAG with a delivery waiting; returns dag id → run id.

    An ingest's runs are keyed by delivery date, and on unpause Airflow's scheduler creates
    the run of the latest past tick of its schedule (``CronPartitionTimetable`` does so even
    with ``catchup=False``), keyed by that tick's date; a manual run keyed alike would not
    replace it (a partitioned run has no logical date to collide on). So the demo's own
    extracts are delivered for that date (their landing folder renamed to it) and that
    scheduled run, the one production would make, loads them. Deliveries the demo did not
    generate keep their folder: their run is triggered, keyed by that date.
    """
    from tierflow.contracts import catalog
    from tierflow.tasks import pending_deliveries

    by_table = {f"ingest__{ds.table_name}": ds.id for ds in catalog().datasets}
    runs = {}
    for dag_id in dag_ids:
        files = pending_deliveries(by_table[dag_id])
        if not files:
            continue  # loaded by an earlier start: its run is already there
        tick = api.call("GET", f"/api/v2/dags/{dag_id}")["next_dagrun_run_after"]
        due = _scheduled_date(tick)
        if generated and due is not None:
            _deliver_for(due, files)
            api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            runs[dag_id] = _wait(
                lambda d=dag_id, k=due: _run_keyed(api, d, k),
                PARSE_TIMEOUT,
                f"the scheduler's {dag_id} run for {due}",
            )
            continue
        dates = {Path(f).parent.name for f in files}
        body = {"logical_date": None, "partition_key": dates.pop() if len(dates) == 1 else None}
        runs[dag_id] = api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]
        api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    return runs


def _scheduled_date(tick: str | None) -> str | None:
    """The delivery date (Asia/Shanghai) of the run the scheduler makes on unpause, if that
    run is due now (a tick in the past); None when its next run lies ahead."""
    import datetime as dt

    from tierflow.clock import SHANGHAI
    from tierflow.partitions import DATE_FORMAT

    if not tick:
        return None
    when = dt.datetime.fromisoformat(tick.replace("Z", "+00:00"))
    if when > dt.datetime.now(dt.UTC):
        return None
    return when.astimezone(SHANGHAI).strftime(DATE_FORMAT)


def _deliver_for(date: str, files: list[str]) -> None:
    """Move the demo's delivery files (and their ``.ready`` markers, last) to ``date``'s folder."""
    from tierflow.chain import READY_SUFFIX

    for name in files:
        path = Path(name)
        if path.parent.name == date:
            continue
        target = path.parent.with_name(date)
        target.mkdir(parents=True, exist_ok=True)
        path.rename(target / path.name)
        marker = path.with_name(path.name + READY_SUFFIX)
        marker.rename(target / marker.name)
        if not any(path.parent.iterdir()):
            path.parent.rmdir()


def _run_keyed(api: Api, dag_id: str, key: str) -> str | None:
    runs = _runs(api, dag_id)
    return next((r["dag_run_id"] for r in runs if r.get("partition_key") == key), None)


def _runs(api: Api, dag_id: str) -> list[dict[str, Any]]:
    return api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]


def _settled(api: Api, triggered: dict[str, str], downstream: list[str]) -> bool:
    """Our ingest runs finished, and the DAGs their Assets drive ran with nothing left to run."""
    for dag_id, run_id in triggered.items():
        if api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"] not in FINISHED:
            return False
    for dag_id in downstream:
        runs = _runs(api, dag_id)
        if not runs or any(r["state"] not in FINISHED for r in runs):
            return False
        if _pending_partitions(api, dag_id):
            return False  # an Asset event the scheduler has not turned into a run yet
    return True


def _pending_partitions(api: Api, dag_id: str) -> list[dict[str, Any]]:
    """Partitioned runs the scheduler has not created yet that can start: every one of a
    merge or the sink, the aggregate's once all it waits for is in (a part is not a run)."""
    query = f"/ui/partitioned_dag_runs?dag_id={dag_id}&has_created_dag_run_id=false"
    pending = api.call("GET", query)["partitioned_dag_runs"]
    if dag_id == "aggregate__tiers":
        return [p for p in pending if p["total_received"] >= p["total_required"]]
    return pending


def start_demo_stack(scale: int, seed: int, defect_rate: float) -> dict[str, Any]:
    """Start the stack on the demo's data, run the chain through it, leave the UI up."""
    from tierflow.chain import ready_deliveries
    from tierflow.demo_keys import provision_demo_secrets
    from tierflow.generate import generate

    started = time.perf_counter()
    provisioned = provision_demo_secrets()  # before the env: the processes get their paths
    env = _stack_env()
    landing = storage.landing_dir()
    generated = not (landing.is_dir() and ready_deliveries(landing))  # a second start reuses them
    if generated:
        generate(out=landing.parent, scale=scale, seed=seed, defect_rate=defect_rate)
    _stack("start", env)
    base, user, password = _login()
    api = Api(base, user, password)
    dags = demo_dags()
    every = [d for stage in dags.values() for d in stage]
    _wait(lambda: all(_parsed(api, d) for d in every), PARSE_TIMEOUT, "the DAGs to be parsed")
    downstream = dags["merge"] + dags["chain"]
    for dag_id in downstream:  # paused DAGs queue no Asset events: unpause before the ingests
        api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    triggered = _trigger_ingests(api, dags["ingest"], generated)
    print(f"[demo] UI at {base} (login {user} / {password}); running the chain…", file=sys.stderr)
    if triggered:
        _wait(lambda: _settled(api, triggered, downstream), CHAIN_TIMEOUT, "the demo's DAG runs")
    states = {d: [r["state"] for r in _runs(api, d)] for d in every}
    failed = sorted(d for d, s in states.items() if "failed" in s)
    result = {
        "ui": base,
        "login": {"username": user, "password": password},
        "runs": states,
        "triggered": triggered,  # the ingest runs that loaded the demo's deliveries, by DAG
        "failed": failed,
        "airflow_home": str(airflow_home()),
        "data_root": str(config.data_root()),
        "public_key_file": str(provisioned.get("public_key_file") or "") or None,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if failed:
        raise DemoStackFailed(
            f"DAG runs failed: {', '.join(failed)}; the UI stays up at {base} to look at them"
            " (tierflow demo --stop stops it)"
        )
    return result


def _parsed(api: Api, dag_id: str) -> bool:
    try:
        api.call("GET", f"/api/v2/dags/{dag_id}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise
    return True


def stop_demo_stack() -> dict[str, Any]:
    """Stop what ``start_demo_stack`` started: the stack's processes, then the embedded server."""
    import os

    env = dict(os.environ, AIRFLOW_HOME=str(airflow_home()))
    if (airflow_home() / "run").is_dir():
        _stack("stop", env)
    return {
        "stack_stopped": True,
        "embedded_stopped": (not db.is_configured()) and db.stop_embedded(),
    }


def render(result: dict[str, Any]) -> str:
    if "stack_stopped" in result:
        return "demo stack stopped" + (
            "; embedded PostgreSQL stopped" if result["embedded_stopped"] else ""
        )
    ui, login = result["ui"], result["login"]
    runs = result["runs"]
    ok = sum(s.count("success") for s in runs.values())
    look = [
        (
            f"{ui}/dags",
            "the DAGs: ingest__* → merge__* → sink__districts → aggregate__tiers, each run",
        ),
        (
            f"{ui}/assets",
            "the Assets (pool.*, library.*, feeds, …) and the events linking the runs",
        ),
        (
            f"{ui}/plugin/tierflow-quality",
            "Browse → Data quality & deliveries: pass rates, quarantine"
            " reasons, late deliveries, feeds per district, Data Docs",
        ),
        (f"{result['data_root']}/feeds/", "the district feeds the sink DAG published"),
        ("make demo-stop", "stops Airflow and the embedded PostgreSQL"),
    ]
    width = max(len(where) for where, _ in look)
    return "\n".join(
        [
            f"Airflow UI: {ui}  login: {login['username']} / {login['password']}",
            f"{ok} successful DAG runs of {len(runs)} DAGs in {result['seconds']} s. Look at:",
            *(f"  {where.ljust(width)}  {what}" for where, what in look),
        ]
    )
