"""Benchmark ``tierflow generate`` on household rows only.

    python bench/generate.py [--rows 1000000] [--defect-rate 0.05]

Prints rows/s and the peak resident set size of the process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

from tierflow.generate import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--defect-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tierflow-bench-") as tmp:
        started = time.perf_counter()
        summary = generate(
            Path(tmp),
            scale=args.rows,
            seed=args.seed,
            defect_rate=args.defect_rate,
            as_of=dt.date(2026, 3, 1),
            datasets=["psb.household"],
        )
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    rows = summary["files"][0]["rows"]
    # ru_maxrss is KiB on Linux, bytes on macOS
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (
        1024 if sys.platform != "darwin" else 1024 * 1024
    )
    print(f"household rows written: {rows:,} ({size / 1e6:.0f} MB) in {seconds:.2f} s")
    print(f"rows/s: {rows / seconds:,.0f}")
    print(f"peak RSS: {peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
