"""Task bodies: plain typed functions the DAGs call (and tests call without Airflow).

They exchange references (paths, dataset ids, delivery ids), never data. Each one that
touches data reports what it read and wrote (``tierflow.lineage``), built from what its stage
returned: the files, partitions, tables and feed folders of this run, not a fixed list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tierflow import config, lineage
from tierflow.chain import ready_deliveries
from tierflow.contracts import catalog
from tierflow.lineage import Lineage, file_uri, table_uri
from tierflow.quality import ledger


def pending_deliveries(dataset_id: str, landing: Path | None = None) -> list[str]:
    """Ready files of a dataset that no earlier run has loaded or rejected."""
    from tierflow.db import engine

    landing = landing or config.landing_dir()
    if not landing.is_dir():
        return []
    files = [str(p) for ds, p in ready_deliveries(landing) if ds == dataset_id]
    if not files:
        return []
    with engine().connect() as conn:
        done = ledger.files_seen(conn, dataset_id, files)
    return [f for f in files if f not in done]


def ingest_deliveries(dataset_id: str, files: list[str]) -> dict[str, Any]:
    """Ingest each file; a rejected file is recorded and reported, the others still load."""
    from tierflow.ingest.pipeline import ingest_file
    from tierflow.ingest.readers import DeliveryRejected

    results: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    for path in files:
        try:
            results.append(ingest_file(Path(path), dataset_id))
        except DeliveryRejected as exc:
            rejected.append({"file": path, "error": str(exc)})
    if lineage.in_task():
        lineage.report(_ingest_lineage(dataset_id, files, results))
    return {
        "dataset": dataset_id,
        "deliveries": [r["delivery_id"] for r in results],
        "rows_in": sum(r["rows_in"] for r in results),
        "rows_accepted": sum(r["rows_accepted"] for r in results),
        "rows_quarantined": sum(r["rows_quarantined"] for r in results),
        "rows_superseded": sum(r["rows_superseded"] for r in results),
        "suite_success": all(r["suite_success"] for r in results) if results else None,
        "rejected": rejected,
    }


def gx_reports(delivery_ids: list[int]) -> dict[str, Any]:
    """The GX report (result + Data Docs) of each delivery an ingest run loaded whose report is
    still pending; a retry skips the ones already done."""
    from tierflow.ingest.gx import validate_deliveries

    done = validate_deliveries(list(delivery_ids))["validated"]
    return {
        "deliveries": [r["delivery_id"] for r in done],
        "success": [r.get("success") for r in done],
    }


def _ingest_lineage(dataset_id: str, files: list[str], results: list[dict[str, Any]]) -> Lineage:
    """Read: every file (a rejected or repeated one too). Written, for each delivery loaded
    now: the pool, its partition and the quarantine file."""
    from tierflow.pool import delivery_partition

    dataset = catalog().dataset(dataset_id)
    outputs: list[str] = []
    for result in results:
        if not result.get("loaded_now"):
            continue  # the same file again: nothing was written
        outputs.append(table_uri(f"pool.{dataset.table_name}"))
        outputs.append(table_uri(f"pool.{delivery_partition(dataset, result['delivery_id'])}"))
        if result["quarantine"]:
            outputs.append(file_uri(result["quarantine"]))
    return Lineage.of(inputs=[file_uri(f) for f in files], outputs=outputs)


def merge_library(library: str) -> dict[str, Any]:
    """Merge a library's new deliveries; reports the pools read and the tables changed."""
    from tierflow.merge.run import merge_library as merge
    from tierflow.merge.survivorship import load_rules
    from tierflow.tables import library_tables

    result = merge(library)
    if not lineage.in_task():
        return result
    names = list(load_rules(library).tables)
    by_table = result.get("tables") or {names[0]: result}  # one table: the totals are its own
    changed = {n for n, t in by_table.items() if t["inserted"] or t["updated"]}
    closed = {n for n, t in by_table.items() if t["history_closed"]}  # history written
    cat = catalog()
    lineage.report(
        Lineage.of(
            inputs=[table_uri(f"pool.{cat.dataset(d).table_name}") for d in result["deliveries"]],
            outputs=[
                table_uri(f"{t.schema}.{name}")
                for t in library_tables(cat)
                for name, written in ((t.name, changed), (t.history, closed))
                if t.name in written
            ],
        )
    )
    return result


def sink_district(district: str, run_id: str) -> dict[str, Any]:
    """One district's feeds of this run; reports the tables read and the feed folders written.

    A purge notice reads no library table: only its folder is reported.
    """
    from tierflow.sink.run import sink
    from tierflow.sink.sources import feed_source

    result = sink(district, run_id, load=False, workers=2, refresh=False)
    feeds = result["feeds"]
    if lineage.in_task():
        lineage.report(
            Lineage.of(
                [
                    table_uri(table)
                    for f in feeds
                    if not f.get("purge")
                    for table in feed_source(f["feed"]).version_tables
                ],
                [file_uri(f["path"]) for f in feeds],
            )
        )
    # only references go to XCom: paths and counts, never rows
    return {"district": district, "rows": result["rows"], "feeds": len(feeds)}


def aggregate_tiers(run_id: str) -> dict[str, Any]:
    """The tier aggregates of this run; reports the tables its SQL read and wrote, and the
    upward report's folder."""
    from tierflow.aggregate.tiers import aggregate, statements

    result = aggregate(run_id)
    if lineage.in_task():
        tables = lineage.of_statements(statements())
        report = file_uri(result["report"]["path"])
        lineage.report(Lineage.of(tables.inputs, [*tables.outputs, report]))
    return {"run_id": result["run_id"], "rows": result["rows"], "report": result["report"]}
