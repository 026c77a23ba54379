"""Failures on the cluster: a worker stopped mid-sink, a sink killed, two ingests at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.citus.conftest import start_workers, stop_worker
from tests.postgres.test_sink import AS_OF, PILOTS, digests
from tierflow import locks
from tierflow.sink.verify import verify_feed

pytestmark = [pytest.mark.citus, pytest.mark.slow]
DISTRICT = "500103"


def _cli(*args: str, url: str, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TIERFLOW_DATABASE_URL=url, TIERFLOW_HOME=str(home), **extra)
    return subprocess.run(
        [sys.executable, "-m", "tierflow.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _parts(folder: Path) -> dict[str, str]:
    return {k: v for k, v in digests(folder).items() if k.endswith(".parquet")}


def _ledger(engine: sa.Engine, run_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    with engine.connect() as conn:
        return {
            (r.consumer_id, r.feed_name): (r.status, r.path)
            for r in conn.execute(
                sa.text(
                    "select consumer_id, feed_name, status, path from feed.run where run_id = :r"
                ),
                {"r": run_id},
            )
        }


def _nothing_half_written(engine: sa.Engine, feeds: Path, run_id: str) -> int:
    """Every feed folder of the run a reader can see is complete and marked published; no
    temporary folder is left; returns how many are published."""
    ledger = _ledger(engine, run_id)
    published = {Path(path) for status, path in ledger.values() if status == "published"}
    visible = {p for p in feeds.glob(f"*/*/{run_id}") if not p.name.startswith(".")}
    assert visible <= published | {Path(p) for s, p in ledger.values() if s == "writing"}
    for folder in visible:
        assert verify_feed(folder)["ok"], folder
    for folder in published:
        assert folder in visible, folder
    assert not [p for p in feeds.rglob(".*") if p.is_dir()], "temporary folders left behind"
    return len(published)


def _same_as_base(feeds: Path, run_id: str, codes: tuple[str, ...]) -> None:
    compared = 0
    for code in codes:
        for feed in (feeds / code).iterdir():
            if (feed / run_id).exists():
                assert _parts(feed / run_id) == _parts(feed / "base"), feed
                compared += 1
    assert compared >= 6 * len(codes)


def test_a_worker_stopped_mid_sink_fails_in_one_line_and_the_rerun_completes(
    twins, citus_url, citus_engine, cluster_env, monkeypatch
):
    from tierflow.sink import run, runner

    cluster_root = twins.cluster_root
    feeds = cluster_root / "feeds"
    monkeypatch.setenv("TIERFLOW_HOME", str(cluster_root))
    extract = runner._extract
    statements, stopped = [], []

    def stop_after_the_first(eng, statement, store, snapshot):
        extract(eng, statement, store, snapshot)
        statements.append(statement)
        if len(statements) == 1:
            stopped.append(stop_worker(cluster_env))

    monkeypatch.setattr(runner, "_extract", stop_after_the_first)
    try:
        # the statement that was reading from the worker fails, naming it
        with pytest.raises((sa.exc.OperationalError, psycopg.OperationalError)) as failed:
            run.sink(run_id="stopped", as_of=AS_OF, eng=citus_engine, load=False, workers=1)
        assert len(statements) == 1 and f"127.0.0.1:{stopped[0]}" in str(failed.value)
        cli = _cli("sink", "--run-id", "stopped", url=citus_url, home=cluster_root)
        assert cli.returncode == 1, cli.stderr
        assert len(cli.stderr.strip().splitlines()) == 1, cli.stderr  # one line, no traceback
        line = cli.stderr.strip()
        assert line.startswith("tierflow sink: error:") and f":{stopped[0]}" in line, line
    finally:
        start_workers(cluster_env)
        # a retry runs in a new process, whose coordinator sessions hold no connection to the
        # worker as it was before its restart (Citus caches those per session): so do we
        citus_engine.dispose()
    assert set(status for status, _path in _ledger(citus_engine, "stopped").values()) <= {
        "writing",
        "published",
    }
    _nothing_half_written(citus_engine, feeds, "stopped")
    monkeypatch.setattr(runner, "_extract", extract)
    run.sink(run_id="stopped", as_of=AS_OF, eng=citus_engine, load=False)
    assert {s for s, _p in _ledger(citus_engine, "stopped").values()} == {"published"}
    assert _nothing_half_written(citus_engine, feeds, "stopped") >= 6 * len(PILOTS)
    _same_as_base(feeds, "stopped", PILOTS)


@pytest.mark.parametrize("point", ["sink.after_parts", "sink.before_rename"])
def test_a_sink_killed_on_the_cluster_leaves_nothing_half_written(
    point, twins, citus_url, citus_engine
):
    cluster_root = twins.cluster_root
    feeds = cluster_root / "feeds"
    run_id = f"kill-{point.split('.')[-1]}"
    args = ("sink", "--district", DISTRICT, "--run-id", run_id, "--as-of", AS_OF.isoformat())
    killed = _cli(*args, url=citus_url, home=cluster_root, TIERFLOW_KILL_AT=point)
    assert killed.returncode == -9, killed.stderr
    assert {s for s, _p in _ledger(citus_engine, run_id).values()} == {"writing"}
    assert not [p for p in feeds.glob(f"{DISTRICT}/*/{run_id}") if (p / "_SUCCESS").exists()]
    rerun = _cli(*args, url=citus_url, home=cluster_root)
    assert rerun.returncode == 0, rerun.stderr
    assert _nothing_half_written(citus_engine, feeds, run_id) >= 6
    _same_as_base(feeds, run_id, (DISTRICT,))


def test_the_sink_waits_for_a_merge_committing_before_it_fixes_its_windows(
    twins, citus_engine, monkeypatch
):
    """On Citus the run's cut is its windows' bounds: they are read only once no merge of a
    feeding library is still committing (it holds its lock until every worker committed)."""
    from tierflow.sink.run import sink

    cluster_root = twins.cluster_root
    monkeypatch.setenv("TIERFLOW_HOME", str(cluster_root))
    merging, waited, sunk = threading.Event(), threading.Event(), threading.Event()
    someone_waits = (
        "select exists (select from pg_locks where locktype = 'advisory' and not granted)"
    )

    def merge_in_flight() -> None:
        with citus_engine.begin() as conn:
            locks.hold_for_transaction(conn, locks.merge_lock("person"))
            merging.set()
            deadline = time.monotonic() + 60
            while not conn.scalar(sa.text(someone_waits)):
                if sunk.is_set() or time.monotonic() > deadline:
                    return  # the sink never waited
                time.sleep(0.1)
            waited.set()

    with ThreadPoolExecutor(1) as pool:
        holder = pool.submit(merge_in_flight)
        assert merging.wait(30)
        sink(DISTRICT, "settled", as_of=AS_OF, eng=citus_engine, load=False)
        sunk.set()
        holder.result()
    assert waited.is_set(), "the sink fixed its windows while a merge held its lock"
    _same_as_base(cluster_root / "feeds", "settled", (DISTRICT,))


def test_two_ingests_at_once_on_the_cluster_both_load_whole(citus_url, citus_engine, tmp_path):
    from tierflow.generate import generate

    files = [
        Path(
            generate(
                out=tmp_path / f"d{seed}",
                scale=2000,
                seed=seed,
                defect_rate=0.05,
                datasets=["psb.household"],
            )["files"][0]["path"]
        )
        for seed in (91, 92)
    ]
    count = "select count(*) from pool.psb_household"
    with citus_engine.connect() as conn:
        before = conn.scalar(sa.text(count))
    with ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(
                lambda f: _cli(
                    "ingest",
                    str(f),
                    "--dataset",
                    "psb.household",
                    "--no-gx",
                    "--json",
                    url=citus_url,
                    home=tmp_path,
                ),
                files,
            )
        )
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    results = [json.loads(r.stdout) for r in runs]
    assert all(r["loaded_now"] and r["rows_accepted"] > 1500 for r in results)
    with citus_engine.connect() as conn:
        after = conn.scalar(sa.text(count))
        loaded = conn.scalar(
            sa.text("select count(*) from quality.delivery where delivery_id = any(:d)"),
            {"d": [r["delivery_id"] for r in results]},
        )
    assert after - before == sum(r["rows_accepted"] - r["rows_superseded"] for r in results)
    assert loaded == 2
