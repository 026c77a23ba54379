"""One node against a local Citus cluster, same machine: ``python -m bench.citus [--rows N]``.

First load (a ``--rows`` household delivery) and a daily increment (a tenth of it, a new
delivery of the same dataset) ingested into each; the person merge of both deliveries on each;
the sink of all pilots on each.
Needs a running cluster: ``tierflow cluster up --workers 2`` (its URL is asked from
``tierflow cluster up --json``, which changes nothing when it runs). Per-worker throughput is
rows/s over the workers; on one shared 2-core machine expect overhead, not speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import environ, scratch_database
from tierflow.sql_files import statement


def _cluster_url() -> str:
    up = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "cluster", "up", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(up.stdout)["url"]


def _timed(step, *args, **kwargs) -> tuple[float, Any]:
    started = time.perf_counter()
    result = step(*args, **kwargs)
    return time.perf_counter() - started, result


def _ingest(engine: sa.Engine, first: Path, daily: Path) -> dict[str, float]:
    from tierflow.ingest.pipeline import ingest_file

    load, done = _timed(ingest_file, first, "psb.household", eng=engine, run_gx=False)
    inc, more = _timed(ingest_file, daily, "psb.household", eng=engine, run_gx=False)
    return {
        "first_load_s": round(load, 2),
        "first_load_rows_s": round(done["rows_in"] / load),
        "increment_s": round(inc, 2),
        "increment_rows_s": round(more["rows_in"] / inc),
    }


# Every run starts from an empty warehouse on the cluster: an earlier run's delivery ledger would
# make this run's ingest a duplicate (nothing loaded, nothing merged, nothing sunk) and its feed
# ledger would make the sink a re-run. Reference data the migrations seed and the consumers
# (synced from the lists at every sink) stay.
EMPTIED_SCHEMAS = ("pool", "library", "thematic", "quality", "feed")
SEEDED_TABLES = ("library.district_boundary", "feed.consumer")


def _empty_warehouse(conn: sa.Connection) -> None:
    tables = [
        name
        for name in conn.scalars(
            statement("distribution", "warehouse_tables"), {"schemas": list(EMPTIED_SCHEMAS)}
        )
        if name not in SEEDED_TABLES
    ]
    conn.execute(sa.text(f"truncate {', '.join(tables)}"))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from tierflow.generate import generate
    from tierflow.merge.run import merge_library
    from tierflow.sink.run import sink

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="bench-citus-"))
    files = [
        Path(
            generate(out / name, scale=rows, seed=seed, datasets=["psb.household"])["files"][0][
                "path"
            ]
        )
        for name, rows, seed in (("first", args.rows, 1), ("daily", args.rows // 10, 2))
    ]
    cluster = sa.create_engine(_cluster_url())
    with cluster.begin() as conn:
        workers = conn.scalar(sa.text("select count(*) from citus_get_active_worker_nodes()"))
        _empty_warehouse(conn)
    secrets = {"TIERFLOW_PSEUDONYM_KEY": "bench", "TIERFLOW_SIGNING_KEY": "A" * 43 + "="}
    with scratch_database("tierflow_bench_citus") as url, environ(secrets):
        single = sa.create_engine(url)
        results: dict[str, Any] = {"rows": args.rows, "workers": workers}
        results["one_node"] = _ingest(single, *files)
        results["cluster"] = _ingest(cluster, *files)
        for name, engine in (("one_node", single), ("cluster", cluster)):
            merge_s, merged = _timed(merge_library, "person", eng=engine)
            results[name]["merge_s"] = round(merge_s, 2)
            results[name]["merge_records_s"] = round(merged["touched"] / merge_s)
            results[name]["merge_steps_s"] = merged["step_seconds"]
        for name, engine in (("one_node", single), ("cluster", cluster)):
            with environ({"TIERFLOW_HOME": str(out / name)}):
                seconds, summary = _timed(sink, run_id="bench", eng=engine, load=False)
            results[name]["sink_s"] = round(seconds, 2)
            results[name]["sink_rows_s"] = round(summary["rows"] / seconds)
        single.dispose()
    cluster.dispose()
    for key in ("first_load_rows_s", "increment_rows_s", "merge_records_s", "sink_rows_s"):
        per_worker = key.replace("_rows_s", "_rows_s_per_worker").replace(
            "_records_s", "_records_s_per_worker"
        )
        results["cluster"][per_worker] = round(results["cluster"][key] / workers)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
