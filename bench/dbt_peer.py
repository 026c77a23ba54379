"""dbt snapshot as the peer of tierflow's history (issue #15): what a team would use instead.

dbt-core 1.10 and dbt-postgres 1.9 live in their own venv (in the user's cache, created on first
use: they need not share Airflow's pins). The peer's model: a table of delivered household rows
(text, as delivered), a ``distinct on`` view of the newest row per person, and a snapshot of it
(timestamp strategy, ``unique_key='id_number'``) in the same PostgreSQL database as ours.
Loading a file is a pyarrow read + binary COPY into that table, the way ours and the floor load.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ratio, verdict
from bench.ingest import _columns

DBT_REQUIREMENTS = ("dbt-core~=1.10.0", "dbt-postgres~=1.9.0")
PROJECT = """name: tierflow_peer
version: "1.0"
profile: tierflow_peer
snapshot-paths: ["snapshots"]
"""
PROFILE = """tierflow_peer:
  target: bench
  outputs:
    bench:
      type: postgres
      host: {host}
      port: {port}
      user: {user}
      password: "{password}"
      dbname: {database}
      schema: peer
      threads: 2
"""
SNAPSHOT = """{% snapshot person_snapshot %}
{{ config(target_schema='peer_snapshot', unique_key='id_number', strategy='timestamp',
          updated_at='updated_at') }}
select * from peer.household_latest
{% endsnapshot %}
"""


def _venv_dir() -> Path:
    """The side venv: in the user's cache (``TIERFLOW_BENCH_VENVS`` or
    ``tierflow.settings.user_cache()/bench-venvs``), named by its requirements and this Python, so a
    fresh clone (CI's) reuses an install of the same pins instead of downloading them again."""
    from tierflow.settings import user_cache

    pins = "\n".join((*DBT_REQUIREMENTS, sys.version.split()[0])).encode()
    base = Path(os.environ.get("TIERFLOW_BENCH_VENVS") or user_cache() / "bench-venvs")
    return base / f"dbt-{hashlib.sha256(pins).hexdigest()[:12]}"


def dbt_executable() -> Path | str:
    """The dbt executable of the side venv, installed on first use; or why there is none. The
    venv counts once its install has finished (a marker written last): a killed install is
    started again, and two benches installing at once take turns (a file lock)."""
    venv = _venv_dir()
    exe, done = venv / "bin" / "dbt", venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists() and exe.exists():
            return exe
        shutil.rmtree(venv, ignore_errors=True)
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)],
                check=True,
                capture_output=True,
                timeout=300,
            )
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", *DBT_REQUIREMENTS],
                check=True,
                capture_output=True,
                timeout=900,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            return f"dbt could not be installed: {exc} {detail[-300:]!r}"
        if not exe.exists():
            return "dbt could not be installed: no dbt executable"
        done.write_text("\n".join(DBT_REQUIREMENTS) + "\n")
        return exe


@dataclass(frozen=True)
class DbtPeer:
    """One dbt project snapshotting ``peer.household_latest`` in the database at ``url``."""

    project: Path
    argv: tuple[str, ...]

    @classmethod
    def create(cls, tmp: Path, url: str) -> DbtPeer | str:
        """The peer's schema, view and project; or why dbt cannot run here."""
        import sqlalchemy as sa

        from tierflow.db import engine

        exe = dbt_executable()
        if isinstance(exe, str):
            return exe
        with engine().begin() as conn:
            conn.execute(sa.text("create schema peer"))
            columns = ", ".join(
                f"{n} {'timestamp' if n == 'updated_at' else 'text'}" for n in _columns()
            )
            conn.execute(sa.text(f"create table peer.household ({columns})"))
            conn.execute(
                sa.text(
                    "create view peer.household_latest as select distinct on (id_number)"  # noqa: S608 - bench identifiers
                    f" {', '.join(_columns())} from peer.household"
                    " order by id_number, updated_at desc"
                )
            )
        project = tmp / "dbt"
        (project / "snapshots").mkdir(parents=True)
        (project / "dbt_project.yml").write_text(PROJECT)
        (project / "snapshots" / "person_snapshot.sql").write_text(SNAPSHOT)
        parsed = sa.engine.make_url(url)
        (project / "profiles.yml").write_text(
            PROFILE.format(
                host=parsed.host or "127.0.0.1",
                port=parsed.port or 5432,
                user=parsed.username or "postgres",
                password=parsed.password or "",
                database=parsed.database,
            )
        )
        argv = (str(exe), "snapshot", "--project-dir", str(project), "--profiles-dir", str(project))
        return cls(project, argv)

    def load(self, path: str) -> float:
        """pyarrow read + binary COPY of a delivered file into peer.household; seconds. Rows
        whose ``updated_at`` does not parse are dropped (the snapshot's timestamp strategy
        needs one; the peer has no quarantine)."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pv

        from tierflow.db import engine
        from tierflow.ingest.load import copy_table

        columns = _columns()  # the household contract's, in its order
        started = time.perf_counter()
        table = pv.read_csv(
            path,
            parse_options=pv.ParseOptions(invalid_row_handler=lambda row: "skip"),  # ragged lines
            convert_options=pv.ConvertOptions(column_types={n: pa.string() for n in columns}),
        )
        text = pc.replace_substring(table["updated_at"], " ", "T")
        stamp = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
        at = columns.index("updated_at")
        table = table.select(columns).set_column(at, "updated_at", stamp)
        table = table.filter(pc.is_valid(stamp))
        with engine().begin() as conn:
            copy_table(conn, "peer.household", table)
        return time.perf_counter() - started

    def snapshot(self) -> float:
        """One ``dbt snapshot`` run (a fresh dbt process, as a scheduler would start it)."""
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        started = time.perf_counter()
        done = subprocess.run(self.argv, capture_output=True, text=True, env=env, cwd=self.project)
        if done.returncode != 0:
            raise RuntimeError(f"dbt snapshot failed: {done.stdout[-2000:]}")
        return time.perf_counter() - started

    def versions(self) -> int:
        import sqlalchemy as sa

        from tierflow.db import engine

        with engine().connect() as conn:
            return int(conn.scalar(sa.text("select count(*) from peer_snapshot.person_snapshot")))


def copy_and_snapshot(peer: DbtPeer, path: str) -> dict[str, Any]:
    """The peer's timed work on one delivered file: its COPY, then a ``dbt snapshot``."""
    copy_seconds = peer.load(path)
    snapshot_seconds = peer.snapshot()
    return {
        "seconds": copy_seconds + snapshot_seconds,
        "copy_seconds": copy_seconds,
        "snapshot_seconds": snapshot_seconds,
        "snapshot_rows": peer.versions(),
    }


def judge(report: dict[str, Any], peer: dict[str, Any] | None, ours: float, target: str) -> None:
    """The peer's figures and the ``target`` line (ours faster than dbt) in a case's report;
    ``peer`` None: not run (``--no-dbt``); with ``error``: dbt could not be installed."""
    if peer is None:
        report[target] = "dbt not run (--no-dbt)"
        return
    if "error" in peer:
        report["dbt"] = peer["error"]
        report[target] = "not judged: " + peer["error"]
        return
    figures = {
        "dbt_s": "seconds",
        "dbt_copy_s": "copy_seconds",
        "dbt_snapshot_s": "snapshot_seconds",
        "dbt_first_snapshot_s": "first_snapshot_seconds",  # the increment's untimed first
    }
    report.update({key: round(peer[name], 2) for key, name in figures.items() if name in peer})
    report["dbt_snapshot_rows"] = peer["snapshot_rows"]
    report["dbt_vs_ours"] = ratio(peer["seconds"], ours)
    report[target] = "ours < dbt: " + verdict(ours / peer["seconds"], 1.0, at_most=True)
