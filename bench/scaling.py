"""Does ingest + merge stay linear and bounded? The same case at N and 10×N rows, in one run.

    python -m bench.scaling [--rows 1000000] [--factor 10] [--json]

Each size gets its own scratch database and a fresh interpreter (``bench.ingest_merge``'s
"ours" case: ingest with all checks, quarantine and GX, then the person merge). The targets
(issue #7): the 10×N time at most 11× the N time, and peak RSS (process tree) at most 2 GB.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.common import machine_facts, print_report, run_case, scratch_database, verdict
from bench.ingest import _household_file

TARGET_TIME_FACTOR = 11.0
TARGET_PEAK_RSS_MIB = 2048.0


def measure(rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tierflow-bench-") as tmp, scratch_database():
        path = _household_file(Path(tmp), rows)
        result = run_case("bench.ingest_merge", "ours", path=str(path))
        result["file_mb"] = round(path.stat().st_size / 1e6, 1)
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    small = measure(args.rows)
    large = measure(args.rows * args.factor)
    time_factor = large["seconds"] / small["seconds"]
    allowed = TARGET_TIME_FACTOR * args.factor / 10
    report: dict[str, Any] = {"case": "ingest + merge at N and 10×N household rows"}
    for label, result in (("small", small), ("large", large)):
        report[f"{label}_rows"] = result["rows"]
        report[f"{label}_file_mb"] = result["file_mb"]
        report[f"{label}_s"] = round(result["seconds"], 2)
        report[f"{label}_ingest_s"] = round(result["ingest_seconds"], 2)
        report[f"{label}_merge_s"] = round(result["merge_seconds"], 2)
        report[f"{label}_merge_steps_s"] = result["merge_steps"]
        report[f"{label}_rows_per_s"] = round(result["rows"] / result["seconds"])
        report[f"{label}_peak_rss_mib"] = result["peak_rss_mib"]
    report["time_factor"] = f"{time_factor:.2f}x"
    report["target_time_factor"] = f"<= {allowed:g}x: " + verdict(
        time_factor, allowed, at_most=True
    )
    report["target_peak_rss"] = f"<= {TARGET_PEAK_RSS_MIB:g} MiB: " + verdict(
        large["peak_rss_mib"], TARGET_PEAK_RSS_MIB, at_most=True
    )
    report["machine"] = machine_facts()
    print_report(report, args.json)
    return report


if __name__ == "__main__":
    main()
