"""Shared bench plumbing: a scratch database, child-process cases with their peak RSS, machine facts."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any
from unittest import mock

import sqlalchemy as sa

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SERVER_URL = os.environ.get(
    "TIERFLOW_BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def environ(values: dict[str, str]) -> contextlib.AbstractContextManager[Any]:
    """Set environment variables for the block (and the children it starts), then restore them."""
    return mock.patch.dict(os.environ, values)


@contextlib.contextmanager
def scratch_database(prefix: str = "tierflow_bench") -> Iterator[str]:
    """A fresh, migrated warehouse; TIERFLOW_DATABASE_URL points at it for the block (and children)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    url = sa.engine.make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with environ({"TIERFLOW_DATABASE_URL": url}):
            from tierflow import db, migrate

            db.engine.cache_clear()
            migrate.upgrade()
            db.engine().dispose()
            db.engine.cache_clear()
            yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssSampler:
    """Peak RSS of this process tree, sampled: ru_maxrss survives fork+exec on Linux, so a
    child would otherwise report its parent's peak."""

    def __init__(self, interval: float = 0.05) -> None:
        import threading

        import psutil

        self.process = psutil.Process()
        self.peak = 0
        self.interval = interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except Exception:  # noqa: BLE001 - a child exited between listing and reading
                pass
            self.stopped.wait(self.interval)

    def stop(self) -> float:
        self.stopped.set()
        self.thread.join()
        return self.peak / (1 << 20)


def run_case(module: str, case: str, **params: Any) -> dict[str, Any]:
    """Run one case in a fresh interpreter so its peak RSS is its own."""
    argv = [sys.executable, "-m", module, "--case", case, "--params", json.dumps(params)]
    done = subprocess.run(argv, capture_output=True, text=True, env=os.environ, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def case_main(cases: dict[str, Callable[..., dict[str, Any]]]) -> None:
    """Entry point of a case child: ``--case NAME --params JSON``; prints one JSON line."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True, choices=sorted(cases))
    parser.add_argument("--params", default="{}")
    args = parser.parse_args()
    sampler = RssSampler()
    started = time.perf_counter()
    result = cases[args.case](**json.loads(args.params))
    result.setdefault("seconds", time.perf_counter() - started)
    result["peak_rss_mib"] = round(sampler.stop(), 1)
    print(json.dumps(result, default=str))


def machine_facts() -> dict[str, Any]:
    engine = sa.create_engine(SERVER_URL)
    with engine.connect() as conn:
        version = conn.scalar(sa.text("show server_version"))
    engine.dispose()
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": version,
        "machine": platform.machine(),
    }


def ratio(ours: float, reference: float) -> str:
    return f"{ours / reference:.2f}x" if reference else "n/a"


def verdict(value: float, target: float, *, at_most: bool) -> str:
    """ "met", or by how much a target (at most / at least ``target``) is missed."""
    met = value <= target if at_most else value >= target
    if met:
        return "met"
    factor = value / target if at_most else target / value
    return f"MISSED by {factor:.2f}x"


def name_the_gaps(report: dict[str, Any], gaps: dict[str, str]) -> None:
    """For each missed target of ``report``, a ``gap_<target>`` line: where the time goes and
    what would close it (``gaps``: the case's own analysis, kept beside its code; the figures
    behind it are in bench/RESULTS.md)."""
    for target, gap in gaps.items():
        if "MISSED" in str(report.get(target, "")):
            report["gap_" + target.removeprefix("target_")] = gap


def print_report(report: dict[str, Any], as_json: bool) -> None:
    """A case's report: one JSON line, or one aligned ``key value`` line per figure."""
    if as_json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:<30} {value}")
