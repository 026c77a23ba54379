"""A real local Citus cluster (coordinator + 2 workers) for the session: ``tierflow cluster up``.

Citus is built once per cache (about a minute on 2 cores) and reused: the cache is
``TIERFLOW_CACHE_DIR`` when set, else ``tierflow.settings.user_cache()`` (``~/.cache/tierflow``),
outside the checkout, so a developer's later runs and CI's fresh clones on the same machine do
not rebuild (a build is named by the Citus tarball and the embedded PostgreSQL wheel). The source is ``CITUS_SOURCE``
(``.ci/run`` points it at the vendored tarball on machines without internet).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from tests.conftest import PROJECT_ROOT
from tierflow.settings import user_cache

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
        "TIERFLOW_CACHE_DIR": os.environ.get("TIERFLOW_CACHE_DIR") or str(user_cache()),
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


class Twins(NamedTuple):
    single: Any  # one node's engine
    single_root: Path  # one node's data root (run ``base`` sunk there)
    cluster_root: Path  # the cluster's data root (run ``base`` sunk there)
    libraries: tuple[dict, dict]  # library_rows of one node and of the cluster, after the merge
    aggregates: tuple[list, list]  # aggregate_facts of run ``agg-twin`` on each


@pytest.fixture(scope="session")
def twins(tmp_path_factory: pytest.TempPathFactory, citus_engine) -> Iterator[Twins]:
    """The same chain on one node and on the cluster (ingest, the real merge, thematic loads,
    one instant stamped on both, sink run ``base``, aggregates ``agg-twin``): what later
    tests compare is taken here, before other tests add rows to the cluster."""
    from tests.citus.twins import (
        aggregate_facts,
        clear_chain,
        library_rows,
        stamp_one_instant,
    )
    from tests.conftest import SIGNING_KEY, drop_database
    from tests.postgres.test_sink import AS_OF, SECRET, build_chain, run_chain
    from tierflow.aggregate.tiers import aggregate
    from tierflow.sink.run import sink
    from tierflow.sink.thematic import load_thematic

    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERFLOW_PSEUDONYM_KEY", SECRET)
        env.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
        single = build_chain(tmp_path_factory.mktemp("twin-extracts"))
        clear_chain(citus_engine)
        run_chain(citus_engine, tmp_path_factory.mktemp("cluster-extracts"))
        libraries = (library_rows(single), library_rows(citus_engine))
        roots = []
        for name, engine in (("twin", single), ("cluster", citus_engine)):
            root = tmp_path_factory.mktemp(f"{name}-home")
            env.setenv("TIERFLOW_HOME", str(root))
            load_thematic(engine)
            stamp_one_instant(engine)
            sink(run_id="base", as_of=AS_OF, eng=engine, load=False)
            aggregate("agg-twin", as_of=AS_OF, eng=engine)
            roots.append(root)
        aggregates = (
            aggregate_facts(single, "agg-twin"),
            aggregate_facts(citus_engine, "agg-twin"),
        )
        try:
            yield Twins(single, roots[0], roots[1], libraries, aggregates)
        finally:
            single.dispose()
            drop_database(single.info_name)


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
