"""The benchmarks run (quick mode) so they never rot; timings are printed, never asserted."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_bench_quick_runs_every_case():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for case in ("generate", "ingest", "merge"):
        assert f"=== {case}" in done.stdout
    assert "ours_vs_floor" in done.stdout and "naive_vs_ours" in done.stdout
