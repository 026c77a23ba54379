"""Shared fixtures: a fresh PostgreSQL database per test session, a data root per test.

PostgreSQL is required, never mocked: when the server is missing the tests that need it
fail with a message saying how to start it (they are not skipped).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

if TYPE_CHECKING:
    from collections.abc import Iterator

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SERVER_URL = os.environ.get(
    "TIERFLOW_TEST_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
START_HINT = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)
AIRFLOW_DB = f"airflow_test_{uuid.uuid4().hex[:10]}"
# The feed signing key of tests that run the sink, set beside their pseudonym secret:
# TIERFLOW_SIGNING_KEY as base64 of a fixed 32-byte Ed25519 seed (a test key, public here).
SIGNING_KEY = base64.b64encode(hashlib.sha256(b"tierflow test signing key").digest()).decode()


def pytest_configure(config: pytest.Config) -> None:
    """Airflow reads its configuration at import time: point it at a per-session database now."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="tierflow-airflow-"))
    url = sa.engine.make_url(SERVER_URL).set(drivername="postgresql+psycopg2", database=AIRFLOW_DB)
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT_ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(PROJECT_ROOT / "plugins"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=url.render_as_string(hide_password=False),
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        TIERFLOW_SENSOR_POKE_SECONDS="2",
        TIERFLOW_RETRY_DELAY_SECONDS="1",
        TIERFLOW_DEADLINE_ALERTS="0",  # dag.test() of Airflow 3.3.2 fails on DAGs with deadlines
        # OpenLineage to a file, only for the DAGs a test enables (enable_lineage): the
        # provider reads this once, when Airflow loads its plugins
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(
            {"type": "file", "log_file_path": str(home / "openlineage.jsonl"), "append": True}
        ),
        AIRFLOW__OPENLINEAGE__SELECTIVE_ENABLE="True",
        AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD="True",  # no fork of the pytest process
        AIRFLOW__OPENLINEAGE__NAMESPACE="tierflow-test",
    )


def _admin_engine() -> sa.Engine:
    engine = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL test server unreachable at {SERVER_URL}: {exc.orig}; {START_HINT}",
            pytrace=False,
        )
    return engine


def create_database(prefix: str) -> tuple[str, sa.Engine]:
    admin = _admin_engine()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    admin.dispose()
    return name, sa.create_engine(sa.engine.make_url(SERVER_URL).set(database=name))


@contextmanager
def migrated_database(prefix: str) -> Iterator[sa.Engine]:
    """A fresh database of its own at tierflow's head revision, dropped afterwards."""
    from tierflow import migrate

    name, engine = create_database(prefix)
    try:
        migrate.upgrade(eng=engine)
        yield engine
    finally:
        engine.dispose()
        drop_database(name)


def drop_database(name: str) -> None:
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


@pytest.fixture(scope="session")
def warehouse_url() -> Iterator[str]:
    """A fresh, migrated warehouse database for this test session; TIERFLOW_DATABASE_URL points at it."""
    from tierflow import db, migrate

    name, engine = create_database("tierflow_test")
    url = engine.url.render_as_string(hide_password=False)
    previous = os.environ.get("TIERFLOW_DATABASE_URL")
    os.environ["TIERFLOW_DATABASE_URL"] = url
    db.engine.cache_clear()
    try:
        migrate.upgrade()
        yield url
    finally:
        db.engine.cache_clear()
        engine.dispose()
        if previous is None:
            os.environ.pop("TIERFLOW_DATABASE_URL", None)
        else:
            os.environ["TIERFLOW_DATABASE_URL"] = previous
        drop_database(name)


@pytest.fixture()
def warehouse(warehouse_url: str) -> sa.Engine:
    from tierflow import db

    return db.engine()


@pytest.fixture()
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "tierflow-home"
    root.mkdir()
    monkeypatch.setenv("TIERFLOW_HOME", str(root))
    return root


@pytest.fixture()
def signing_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """TIERFLOW_SIGNING_KEY for a test that runs the sink or verifies its feeds in-process."""
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
    return SIGNING_KEY


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[str]:
    """A migrated Airflow metadata database (PostgreSQL) for dag.test()."""
    import subprocess
    import sys

    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{AIRFLOW_DB}"'))
    admin.dispose()
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        pytest.fail(f"airflow db migrate failed: {done.stderr[-2000:]}", pytrace=False)
    try:
        yield AIRFLOW_DB
    finally:
        import airflow.settings

        airflow.settings.dispose_orm()  # before the database goes, not at interpreter exit
        drop_database(AIRFLOW_DB)


LAYER_MARKERS = {"unit", "postgres", "airflow", "browser", "citus"}
# Tests live in the folder of the heaviest layer they need (tests/unit, tests/postgres, …): a
# folder's tests may need its layer or a lighter one, never a heavier one. Citus stands apart.
LAYER_WEIGHT = {"unit": 0, "postgres": 1, "airflow": 2, "browser": 3, "citus": 4}


def _misplaced(item: pytest.Item) -> str | None:
    layers = LAYER_MARKERS & {m.name for m in item.iter_markers()}
    if not layers:
        return f"{item.nodeid} carries none of the markers {sorted(LAYER_MARKERS)}"
    folder = Path(str(item.path)).parent.name
    if folder not in LAYER_WEIGHT:
        return f"{item.nodeid} is not in a layer folder ({', '.join(f'tests/{f}' for f in LAYER_WEIGHT)})"
    heaviest = max(layers, key=LAYER_WEIGHT.__getitem__)
    if LAYER_WEIGHT[heaviest] > LAYER_WEIGHT[folder] or ("citus" in layers) != (folder == "citus"):
        return f"{item.nodeid} needs {heaviest} but sits in tests/{folder}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test says which layer it needs and sits in that layer's folder (or a heavier one)."""
    problems = [problem for item in items if (problem := _misplaced(item))]
    if problems:
        raise pytest.UsageError(f"{len(problems)} test(s) misplaced: " + "; ".join(problems))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API server on loopback (moto's server mode) for this session."""
    from tests.s3 import start_server

    yield from start_server()


@pytest.fixture()
def s3_storage(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - tests.s3.S3
    """A bucket of this test's own as TIERFLOW_STORAGE (s3://<bucket>/tierflow)."""
    from tests.s3 import new_bucket

    s3 = new_bucket(s3_endpoint)
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3
