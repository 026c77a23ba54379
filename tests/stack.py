"""The local stack (deploy/local/stack.sh) for tests: started in a tmp dir, stopped afterwards.

Shared by the stack test (started through ``tierflow demo --ui``, what ``make demo-ui`` runs),
the browser tests (``stack.sh start``) and the hostile-console test (the api-server alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import PROJECT_ROOT, drop_database

if TYPE_CHECKING:
    from collections.abc import Iterator

STACK = PROJECT_ROOT / "deploy" / "local" / "stack.sh"
START_TIMEOUT = 240


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


def _process_groups() -> dict[int, int]:
    """pid → process group id of every process on this machine (from /proc)."""
    groups = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if (
                fields[0] != "Z"
            ):  # a zombie has ended; only a reaper (PID 1 here may be none) clears it
                groups[int(stat.parent.name)] = int(fields[2])
    return groups


REDIS_CLAIM = "tierflow-test-stack"
REDIS_DBS = range(11, 16)


def _claim_redis_db(owner: str) -> tuple[Any, int]:
    """An empty Redis database, claimed until the stop, as this stack's Celery broker: two
    stacks on one broker can take each other's results (test sessions run in parallel on one
    machine), and a database with keys may be another stack's, so it is never flushed."""
    import redis

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
    warehouse_url: str,
    tmp_path: Path,
    services: str | None = None,
    start: list[str] | None = None,
    stop: list[str] | None = None,
    timeout: float = START_TIMEOUT,
) -> Iterator[dict[str, Any]]:
    """The stack started in ``tmp_path`` by ``start`` (default ``stack.sh start``, only
    ``services`` if named), then stopped by ``stop``; fails if any of its processes is left."""
    home = tmp_path / "home"
    airflow_home = home / "airflow"  # where ``tierflow demo --ui`` keeps it, for every start
    port, log_port, health_port = _free_port(), _free_port(), _free_port()
    # a queue of its own: no stale Celery messages, and no other stack on this machine (another
    # test session) takes its tasks or gives it theirs
    queue = f"stack_{uuid.uuid4().hex[:8]}"
    broker, redis_db = _claim_redis_db(str(tmp_path))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(airflow_home),
        "TIERFLOW_HOME": str(home),
        "TIERFLOW_DATABASE_URL": warehouse_url,
        "TIERFLOW_SENSOR_POKE_SECONDS": "5",
        "STACK_AIRFLOW_DB": f"airflow_stack_{uuid.uuid4().hex[:8]}",
        "STACK_FRESH_DB": "1",
        "STACK_PORT": str(port),
        "STACK_LOG_PORT": str(log_port),
        "STACK_REDIS_DB": str(redis_db),
        "STACK_QUEUE": queue,
        "STACK_HEALTH_PORT": str(health_port),
        "STACK_ADMIN_USER": "ops",
        "STACK_ADMIN_PASSWORD": "ops-password",
        "STACK_ANALYST_USER": "district_analyst",  # role user, approves nothing
        "STACK_ANALYST_PASSWORD": "analyst-password",
        # no TIERFLOW_PSEUDONYM_KEY / TIERFLOW_SIGNING_KEY: the stack (or the demo) provisions both
    }
    # the stack runs the code under test: this interpreter's venv, this checkout before any
    # editable install of another one
    env["STACK_BIN"] = str(Path(sys.executable).parent)
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if services:
        env["STACK_SERVICES"] = services
    logs = airflow_home / "logs" / "stack"
    info = {"env": env, "home": home, "logs": logs, "base": f"http://127.0.0.1:{port}"}
    try:
        started = time.perf_counter()
        done = subprocess.run(
            start or [str(STACK), "start"], env=env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, (
            f"{start or 'stack.sh start'} failed ({logs}):\n{done.stderr[-3000:]}"
        )
        info["start_seconds"] = time.perf_counter() - started
        info["stdout"] = done.stdout
        yield info
    finally:
        leaders = [
            int(p.read_text())
            for p in (airflow_home / "run").glob("*.pid")
            if p.read_text().strip()
        ]
        for _ in range(2):  # the second time proves stop idempotent
            subprocess.run(
                stop or [str(STACK), "stop"], env=env, capture_output=True, text=True, timeout=120
            )
        status = subprocess.run([str(STACK), "status"], env=env, capture_output=True, text=True)
        left = {pid for pid, group in _process_groups().items() if group in leaders}
        for _ in range(20):  # a group killed by the stop may take a moment to leave /proc
            if not left:
                break
            time.sleep(0.5)
            left = {pid for pid, group in _process_groups().items() if group in leaders}
        drop_database(env["STACK_AIRFLOW_DB"])
        broker.flushdb()  # its Celery keys and the claim: free for the next stack
        assert "running" not in status.stdout, f"stop left processes:\n{status.stdout}"
        assert not left, f"stop left processes of the stack's groups: {sorted(left)}"


@pytest.fixture(scope="module")
def stack(warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One stack per test module: its tests share it (a start takes about a minute of CI)."""
    with running_stack(warehouse_url, tmp_path_factory.mktemp("stack")) as info:
        yield info
