"""A real local Citus cluster (coordinator + 2 workers) for the session: ``tierflow cluster up``.

Citus is built once per cache (about a minute on 2 cores) and reused: the cache is
``TIERFLOW_CACHE_DIR`` when set, else ``.tierflow/cache`` in the checkout (git-ignored), so a
developer's later runs and CI's later stages do not rebuild. The source is ``CITUS_SOURCE``
(``.ci/run`` points it at the vendored tarball on machines without internet).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import PROJECT_ROOT

if TYPE_CHECKING:
    from collections.abc import Iterator

SHARDS = 8  # per distributed table: enough to spread over both workers, quick DDL on 2 cores


def tierflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tierflow.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="session")
def cluster_env() -> Iterator[dict[str, str]]:
    home = Path(tempfile.mkdtemp(prefix="tierflow-citus-"))
    env = {
        **os.environ,
        "TIERFLOW_HOME": str(home),
        "TIERFLOW_CACHE_DIR": os.environ.get("TIERFLOW_CACHE_DIR")
        or str(PROJECT_ROOT / ".tierflow" / "cache"),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH")) if p
        ),
    }
    env.pop("TIERFLOW_DATABASE_URL", None)
    yield env


@pytest.fixture(scope="session")
def citus_url(cluster_env: dict[str, str]) -> Iterator[str]:
    """The coordinator's warehouse database, migrated; the cluster goes down at the end."""
    up = tierflow(
        "cluster", "up", "--workers", "2", "--shards", str(SHARDS), "--json", env=cluster_env
    )
    if up.returncode != 0:
        pytest.fail(f"tierflow cluster up failed: {up.stderr.strip()}", pytrace=False)
    url = json.loads(up.stdout)["url"]
    try:
        yield url
    finally:
        down = tierflow("cluster", "down", env=cluster_env)
        assert down.returncode == 0, down.stderr


@pytest.fixture(scope="session")
def citus_engine(citus_url: str):
    import sqlalchemy as sa

    from tierflow import migrate

    engine = sa.create_engine(citus_url)
    migrate.upgrade(eng=engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def on_citus(citus_url: str, citus_engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """TIERFLOW_DATABASE_URL at the cluster (and a data root of this test's own)."""
    from tierflow import db

    monkeypatch.setenv("TIERFLOW_DATABASE_URL", citus_url)
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    db.engine.cache_clear()
    yield citus_url
    db.engine.cache_clear()


@pytest.fixture(scope="session")
def twins(
    tmp_path_factory: pytest.TempPathFactory, citus_engine
) -> Iterator[tuple[object, Path, Path]]:
    """One node's chain sunk (run ``base``), its libraries copied to the cluster and sunk
    there too: (one node's engine, one node's data root, the cluster run's data root)."""
    from bench.twins import copy_tables
    from tests.postgres.test_sink import AS_OF, sunk_chain
    from tierflow.sink.run import sink

    with sunk_chain(tmp_path_factory, "twin") as (single, single_root):
        cluster_root = tmp_path_factory.mktemp("cluster-home")
        assert copy_tables(single, citus_engine) > 1000
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TIERFLOW_HOME", str(cluster_root))
            sink(run_id="base", as_of=AS_OF, eng=citus_engine, load=False)
        yield single, single_root, cluster_root


def worker_data(cluster_env: dict[str, str], number: int) -> tuple[Path, Path]:
    """(pg_ctl, data folder) of worker ``number`` of the session's cluster."""
    state = json.loads(
        (Path(cluster_env["TIERFLOW_HOME"]) / "cluster" / "cluster.json").read_text()
    )
    folder = Path(cluster_env["TIERFLOW_HOME"]) / "cluster" / f"worker{number}"
    return Path(state["install"]) / "bin" / "pg_ctl", folder


def stop_worker(cluster_env: dict[str, str], number: int = 2) -> int:
    """Worker ``number`` stopped at once (``-m immediate``: as a crash, no clean shutdown);
    returns its port."""
    from tierflow.db import embedded_system_user

    pg_ctl, folder = worker_data(cluster_env, number)
    subprocess.run(
        [str(pg_ctl), "stop", "-w", "-m", "immediate", "-D", str(folder)],
        check=True,
        capture_output=True,
        user=embedded_system_user(),
        timeout=60,
    )
    state = json.loads(folder.parent.joinpath("cluster.json").read_text())
    return int(state["nodes"][number]["port"])


def start_workers(cluster_env: dict[str, str]) -> None:
    """Every stopped node started again: ``tierflow cluster up`` is idempotent."""
    again = tierflow("cluster", "up", "--json", env=cluster_env)
    assert again.returncode == 0, again.stderr
