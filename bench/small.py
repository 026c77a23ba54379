"""A small delivery (issue #15): 2,000 household rows ingested by ``tierflow ingest`` in a fresh
process, then its GX report (``tierflow quality validate``), each timed as a whole process.

    python -m bench.small [--rows 2000] [--runs 5] [--ingest-only] [--json]

- ours: the wall time of ``python -m tierflow.cli ingest FILE --dataset psb.household`` (a
  fresh interpreter each time: imports, catalog, the warehouse check, the load), median of
  ``--runs`` deliveries (each its own file of the same size, so each is a real load);
- the report: ``python -m tierflow.cli quality validate ID`` of each delivery (GX import,
  validation, Data Docs), median; checked: the ledger says ``done`` and the delivery's GX
  result (JSON) and Data Docs page exist;
- imports: ``python -X importtime`` of the ingest command, the top-level modules by cost
  (the fresh process' fixed cost; GX, pandas and Airflow must not be among them).
Target: ingest ≤ 2 s in a fresh process, the Data Docs and GX report still produced for it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine_facts, print_report, scratch_database, verdict

TARGET_SECONDS = 2.0
ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("great_expectations", "pandas", "airflow")


def _deliveries(out: Path, rows: int, runs: int) -> list[Path]:
    """``runs`` household files of ``rows`` rows, each another day's (and another content)."""
    from tierflow.generate import generate

    files = []
    for i in range(runs):
        summary = generate(
            out / str(i),
            scale=rows,
            seed=100 + i,
            defect_rate=0.02,
            as_of=dt.date(2026, 3, 1) + dt.timedelta(days=i),
            datasets=["psb.household"],
        )
        files.append(Path(summary["files"][0]["path"]))
    return files


CPU_SECONDS: list[float] = []  # user + system CPU of each child, in the order they ran


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli(*args: str, importtime: bool = False) -> tuple[float, subprocess.CompletedProcess]:
    """One ``tierflow`` command in a fresh interpreter: its wall time (and, in ``CPU_SECONDS``,
    its CPU time: on a shared machine the wall time also holds other processes' turns)."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "tierflow.cli"]
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run([*command, *args], capture_output=True, text=True, env=os.environ)
    seconds = time.perf_counter() - started
    CPU_SECONDS.append(_children_cpu() - cpu)
    if done.returncode != 0:
        raise RuntimeError(f"tierflow {' '.join(args)}: {done.stderr[-2000:]}")
    return seconds, done


def top_imports(stderr: str, count: int = 6) -> list[tuple[str, float]]:
    """The top-level imports of a ``-X importtime`` log, costliest first (cumulative seconds)."""
    found = re.findall(r"import time:\s+\d+ \|\s+(\d+) \| (\S+)$", stderr, flags=re.M)
    ranked = sorted(((name, int(us) / 1e6) for us, name in found), key=lambda x: -x[1])
    return [(name, round(s, 3)) for name, s in ranked[:count]]


def _report_written(delivery_id: int, report: dict[str, Any]) -> bool:
    import sqlalchemy as sa

    from tierflow.db import engine

    with engine().connect() as conn:
        status = conn.scalar(
            sa.text("select gx_status from quality.delivery where delivery_id = :d"),
            {"d": delivery_id},
        )
    paths = (report.get("gx_result"), report.get("data_docs_page"), report.get("data_docs"))
    return status == "done" and all(p and Path(p).is_file() for p in paths)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="no report step (a tierflow before it, where ingest ran GX itself)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tierflow-bench-small-") as tmp, scratch_database():
        home = Path(tmp) / "home"
        os.environ["TIERFLOW_HOME"] = str(home)  # this process's children: quarantine, docs
        files = _deliveries(Path(tmp) / "gen", args.rows, args.runs + 2)
        dataset = ["--dataset", "psb.household", "--json"]
        # the first load creates what every later one finds (the pool's first partition, the
        # docs site): measured too, reported apart
        first_s, first = _cli("ingest", str(files[0]), *dataset)
        ingest_s, validate_s, written, rows, ingest_cpu = [], [], [], 0, []
        for path in files[1:-1]:
            seconds, done = _cli("ingest", str(path), *dataset)
            loaded = json.loads(done.stdout)
            ingest_s.append(seconds)
            ingest_cpu.append(CPU_SECONDS[-1])
            rows = loaded["rows_in"]
            if args.ingest_only:
                continue
            seconds, done = _cli("quality", "validate", str(loaded["delivery_id"]), "--json")
            validate_s.append(seconds)
            (report,) = json.loads(done.stdout)["validated"]
            written.append(_report_written(loaded["delivery_id"], report))
        _, profiled = _cli("ingest", str(files[-1]), *dataset, importtime=True)  # a real load
        imports = top_imports(profiled.stderr)
        # a heavy package counts when modules of it were loaded (a refused import is one line)
        heavy = sorted({h for h in HEAVY if re.search(rf"\|\s+{h}\.", profiled.stderr)})
        if not args.ingest_only:  # the first delivery's report too: every delivery has one
            _cli("quality", "validate", str(json.loads(first.stdout)["delivery_id"]), "--json")
    median = statistics.median(ingest_s)
    report = {
        "case": "small delivery: psb.household CSV, tierflow ingest in a fresh process",
        "rows": rows,
        "runs": len(ingest_s),
        "ours_ingest_s_median": round(median, 2),
        "ours_ingest_s_runs": [round(s, 2) for s in ingest_s],
        "ours_ingest_cpu_s_median": round(statistics.median(ingest_cpu), 2),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "first_ingest_s": round(first_s, 2),
        "gx_report_s_median": round(statistics.median(validate_s), 2) if validate_s else None,
        "gx_report_written": all(written) if written else None,
        "ingest_imports_heavy": heavy or "none",
        "ingest_top_imports_s": imports,
        "target_small_ingest_2s": verdict(median, TARGET_SECONDS, at_most=True)
        + ("" if all(written) else " (but a GX report is missing)"),
        "machine": machine_facts(),
    }
    print_report(report, args.json)
    return report


if __name__ == "__main__":
    main()
