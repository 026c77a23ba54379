"""Ingest benchmark: one household CSV, ours against the floor and the naive peer, in one run.

    python -m bench.ingest [--rows 1000000] [--naive-rows N] [--json]

- ours: ``tierflow.ingest.pipeline.ingest_file`` (all checks, quarantine, COPY, dedup; GX is not in it)
- report: the delivery's GX report, the step after the load (``ingest.gx.validate_delivery``: the
  first 100k rows read back, GX, its result and Data Docs), in a fresh interpreter of its own
- floor: pyarrow reads the same file and COPYs the same rows into an unlogged table (least possible work)
- naive: pandas.read_csv -> GX on the whole DataFrame -> DataFrame.to_sql (no row-level quarantine);
  on every row unless ``--naive-rows`` asks for a sample, extrapolated linearly (said so in the
  output; a sample flatters ours, since the peer's fixed costs, ~4 s of GX import, get multiplied)
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    case_main,
    machine_facts,
    print_report,
    ratio,
    run_case,
    scratch_database,
)


def _household_file(out: Path, rows: int, defect_rate: float = 0.02) -> Path:
    from tierflow.generate import generate

    summary = generate(
        out,
        scale=rows,
        seed=1,
        defect_rate=defect_rate,
        as_of=dt.date(2026, 3, 1),
        datasets=["psb.household"],
    )
    return Path(summary["files"][0]["path"])


def case_ours(path: str) -> dict[str, Any]:
    from tierflow.ingest.pipeline import ingest_file

    started = time.perf_counter()
    result = ingest_file(Path(path), "psb.household", run_gx=True)
    return {
        "seconds": time.perf_counter() - started,
        "rows": result["rows_in"],
        "quarantined": result["rows_quarantined"],
        "delivery_id": result["delivery_id"],
    }


def case_report(delivery_id: int) -> dict[str, Any]:
    from tierflow.ingest.gx import validate_delivery

    started = time.perf_counter()
    report = validate_delivery(delivery_id)
    return {"seconds": time.perf_counter() - started, "scope": report["scope"]}


def case_floor(path: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pv
    import sqlalchemy as sa

    from tierflow.db import engine
    from tierflow.ingest.load import copy_table

    started = time.perf_counter()
    table = pv.read_csv(
        path,
        parse_options=pv.ParseOptions(
            invalid_row_handler=lambda row: "skip"
        ),  # the few ragged lines
        convert_options=pv.ConvertOptions(column_types={n: pa.string() for n in _columns()}),
    )
    read_seconds = time.perf_counter() - started
    with engine().begin() as conn:
        conn.execute(
            sa.text(
                "create unlogged table floor_copy ("
                + ", ".join(f"{c} text" for c in _columns())
                + ")"
            )
        )
        copy_table(conn, "floor_copy", table)
    return {
        "seconds": time.perf_counter() - started,
        "read_seconds": read_seconds,
        "rows": table.num_rows,
    }


def case_naive(path: str, rows: int) -> dict[str, Any]:
    import pandas as pd

    from tierflow.checks import suites
    from tierflow.db import engine

    started = time.perf_counter()
    frame = pd.read_csv(path, dtype=str, nrows=rows, keep_default_na=False, on_bad_lines="skip")
    suites.run_suite("psb.household", frame)
    frame.to_sql("naive_household", engine(), if_exists="replace", index=False, chunksize=10_000)
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


def _columns() -> list[str]:
    from tierflow.contracts import catalog

    return [c.name for c in catalog().dataset("psb.household").columns]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=0, help="0: every row")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tierflow-bench-") as tmp, scratch_database():
        path = _household_file(Path(tmp), args.rows)
        size_mb = path.stat().st_size / 1e6
        ours = run_case("bench.ingest", "ours", path=str(path))
        report = run_case("bench.ingest", "report", delivery_id=ours["delivery_id"])
        floor = run_case("bench.ingest", "floor", path=str(path))
        naive_rows = min(args.naive_rows or ours["rows"], ours["rows"])
        naive = run_case("bench.ingest", "naive", path=str(path), rows=naive_rows)
    sampled = naive_rows < ours["rows"]
    naive_seconds = naive["seconds"] * (ours["rows"] / naive["rows"] if sampled else 1.0)
    report = {
        "case": "ingest psb.household CSV",
        "rows": ours["rows"],
        "file_mb": round(size_mb, 1),
        "ours_s": round(ours["seconds"], 2),
        "ours_rows_per_s": round(ours["rows"] / ours["seconds"]),
        "ours_peak_rss_mib": ours["peak_rss_mib"],
        "gx_report_s": round(report["seconds"], 2),
        "gx_report_scope": report["scope"],
        "gx_report_peak_rss_mib": report["peak_rss_mib"],
        "floor_s": round(floor["seconds"], 2),
        "floor_read_s": round(floor["read_seconds"], 2),
        "floor_peak_rss_mib": floor["peak_rss_mib"],
        "naive_s": round(naive_seconds, 2),
        "naive_rows": naive["rows"],  # pandas skips the ragged lines ours quarantines
        "naive_extrapolated": sampled,
        "naive_peak_rss_mib": naive["peak_rss_mib"],
        "ours_vs_floor": ratio(ours["seconds"], floor["seconds"]),
        "naive_vs_ours": ratio(naive_seconds, ours["seconds"]),
        "machine": machine_facts(),
    }
    print_report(report, args.json)
    return report


if __name__ == "__main__":
    import sys

    if "--case" in sys.argv:
        case_main(
            {"ours": case_ours, "report": case_report, "floor": case_floor, "naive": case_naive}
        )
    else:
        main()
