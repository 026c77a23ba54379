"""Every benchmark in one run: ``python -m bench [--rows N] [--quick]`` (``make bench``).

Each case prints our time, the floor, the naive peer where one applies, the ratios, rows/s and
peak RSS, measured in the same run (figures on shared machines are noisy; ratios are what count).
``--quick`` is the 100k-row smoke run CI executes so the benchmarks never rot.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def cases(rows: int, quick: bool) -> list[tuple[str, str, list[str]]]:
    """(name, what it measures, argv) of every case; the sink and scaling cases run at 10x rows."""
    large = rows * 10
    sink = ["--rows", "50000", "--points", "500000"] if quick else ["--rows", str(large)]
    increment = ["--rows", "20000", "--factor", "2"] if quick else ["--rows", str(rows * 2)]
    increment += [] if quick else ["--factor", "10"]
    return [
        ("generate", f"{rows:,} rows", [str(BENCH / "generate.py"), "--rows", str(rows)]),
        ("ingest", f"{rows:,} rows", ["-m", "bench.ingest", "--rows", str(rows)]),
        ("ingest_merge", f"{rows:,} rows", ["-m", "bench.ingest_merge", "--rows", str(rows)]),
        (
            "scaling",
            f"{rows // 10 if quick else rows:,} and {rows if quick else large:,} rows",
            ["-m", "bench.scaling", "--rows", str(rows // 10 if quick else rows)],
        ),
        ("sink", f"a {sink[1]}-person library", ["-m", "bench.sink", *sink]),
        # issue #15: the daily increment into a 2M-person library (and 20M), against dbt snapshot
        (
            "increment",
            f"{increment[1]}-person library, x{increment[3]}",
            ["-m", "bench.increment", *increment],
        ),
        # issue #15: a 2,000-row delivery, ingest in a fresh process, then its GX report
        ("small", "2,000 rows", ["-m", "bench.small", "--runs", "3" if quick else "5"]),
        # the daily chain under dag.test(): demo scale (20k), --quick scale 2k
        (
            "chain",
            "demo scale" if not quick else "2k scale",
            ["-m", "bench.chain", *(["--quick"] if quick else [])],
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k rows, sampled naive peers")
    parser.add_argument("--only", action="append", help="run only this case (repeatable)")
    args = parser.parse_args(argv)
    rows = 100_000 if args.quick else args.rows
    failed = []
    for name, scope, command in cases(rows, args.quick):
        if args.only and name not in args.only:
            continue
        print(f"\n=== {name} ({scope}) ===", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, *command], cwd=BENCH.parent)
        print(
            f"--- {name}: {time.perf_counter() - started:.1f} s wall, exit {done.returncode}",
            flush=True,
        )
        if done.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed cases: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
