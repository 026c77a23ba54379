"""A sink killed mid-way (SIGKILL, no cleanup) publishes nothing half-written; the re-run completes it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SIGNING_KEY
from tierflow.generate import generate
from tierflow.ingest.pipeline import ingest_file
from tierflow.merge.run import merge_library
from tierflow.sink import verify_feed

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
DISTRICT = "500103"


def _sink(run_id: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        TIERFLOW_PSEUDONYM_KEY="reliability-test-secret",
        TIERFLOW_SIGNING_KEY=SIGNING_KEY,
    )
    if kill_at:
        env["TIERFLOW_KILL_AT"] = kill_at
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tierflow.cli",
            "sink",
            "--district",
            DISTRICT,
            "--run-id",
            run_id,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _tree(root: Path) -> dict[str, str]:
    """Every file under the district's feeds, hidden temp folders included, with its SHA-256."""
    base = root / DISTRICT
    return (
        {
            str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*"))
            if p.is_file()
        }
        if base.exists()
        else {}
    )


def _visible_feeds(root: Path, run_id: str) -> list[Path]:
    return sorted(p for p in (root / DISTRICT).glob(f"*/{run_id}") if not p.name.startswith("."))


@pytest.mark.parametrize("point", ["sink.after_parts", "sink.before_rename", "sink.after_rename"])
def test_killed_sink_is_invisible_or_complete_and_the_rerun_finishes(
    point, warehouse, data_root, signing_key, tmp_path
):
    summary = generate(
        out=tmp_path, scale=1500, seed=60 + len(point), defect_rate=0.0, datasets=["psb.household"]
    )
    ingest_file(Path(summary["files"][0]["path"]), "psb.household", run_gx=False)
    merge_library("person")
    feeds = data_root / "feeds"
    run_id = f"kill-{point.split('.')[-1]}"
    killed = _sink(run_id, kill_at=point)
    assert killed.returncode == -9, killed.stderr
    for feed in _visible_feeds(feeds, run_id):  # whatever a reader can see is complete and verifies
        assert verify_feed(feed)["ok"], feed
    if point != "sink.after_rename":
        assert not any((f / "_SUCCESS").exists() for f in _visible_feeds(feeds, run_id))
    rerun = _sink(run_id)
    assert rerun.returncode == 0, rerun.stderr
    published = _visible_feeds(feeds, run_id)
    assert published and all(verify_feed(f)["ok"] for f in published)
    assert not [p for p in (feeds / DISTRICT).rglob(".*") if p.is_dir()], "temp folders left behind"
    first = {k: v for k, v in _tree(feeds).items() if f"/{run_id}/" in f"/{k}"}
    again = _sink(run_id)  # and once more: the same bytes
    assert again.returncode == 0, again.stderr
    assert {k: v for k, v in _tree(feeds).items() if f"/{run_id}/" in f"/{k}"} == first
