"""Task bodies: plain typed functions the DAGs call (and tests call without Airflow).

They exchange references (paths, dataset ids, delivery ids), never data. Each one that
touches data reports what it read and wrote (``tierflow.lineage``), built from what its stage
returned: the files, partitions, tables and feed folders of this run, not a fixed list.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierflow import lineage, storage
from tierflow.chain import ready_deliveries
from tierflow.contracts import catalog
from tierflow.lineage import Lineage, file_uri, table_uri
from tierflow.partitions import PartitionError, delivery_date
from tierflow.quality import ledger

if TYPE_CHECKING:
    from upath import UPath


def pending_deliveries(
    dataset_id: str, landing: UPath | None = None, partition_key: str | None = None
) -> list[str]:
    """Ready files of a dataset that no earlier run has loaded or rejected; with a partition
    key (an ingest run's delivery date), only those delivered for that date."""
    from tierflow.db import engine

    date = delivery_date(partition_key)
    landing = landing or storage.landing_dir()
    if not landing.is_dir():
        return []
    files = [
        str(p)
        for ds, p in ready_deliveries(landing)
        if ds == dataset_id and (date is None or p.parent.name == date)
    ]
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
            results.append(ingest_file(storage.path(path), dataset_id))
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
    still pending; a retry skips the ones already done. Reports, for each delivery validated
    now, the pool partition and quarantine rows read and the result and page written."""
    from tierflow.ingest.gx import validate_deliveries
    from tierflow.pool import delivery_partition

    done = validate_deliveries(list(delivery_ids))["validated"]
    if lineage.in_task() and done:
        cat = catalog()
        inputs: list[str] = []
        outputs: list[str] = []
        for report in done:
            dataset = cat.dataset(report["dataset"])
            inputs.append(table_uri(f"pool.{delivery_partition(dataset, report['delivery_id'])}"))
            inputs.append(table_uri("quality.quarantine"))
            if "data_docs_page" in report:  # where readers find it: under TIERFLOW_STORAGE
                outputs.append(file_uri(published_docs_page(report["data_docs_page"])))
        lineage.report(Lineage.of(inputs, outputs))
    return {
        "deliveries": [r["delivery_id"] for r in done],
        "success": [r.get("success") for r in done],
    }


def published_docs_page(built: str) -> str:
    """Where a Data Docs page built in the local GX project is published: the same path under
    the storage root's docs (the local build itself when storage is local). GX's own result
    store stays in the local project: not a place anyone reads, so not reported."""
    from tierflow import config

    relative = Path(built).resolve().relative_to(config.docs_build_dir().resolve())
    return str(storage.docs_dir() / relative.as_posix())


def delivery_dates(files: list[str], partition_key: str | None = None) -> list[str]:
    """The partition keys of an ingest's pool event: the delivery date of each file (its
    landing folder), else the run's own key, else today (Asia/Shanghai)."""
    from tierflow.clock import today

    dates = set()
    for path in files:
        try:
            dates.add(delivery_date(storage.path(path).parent.name))
        except PartitionError:
            continue  # a folder not named by a date (a file ingested by hand): the fallback
    if not dates:
        dates.add(delivery_date(partition_key) or today().isoformat())
    return sorted(d for d in dates if d)


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


def load_thematic() -> dict[str, Any]:
    """Load the thematic tables from their pools' new deliveries; reports the pools read and
    the tables written (a table with no new delivery is neither)."""
    from tierflow.sink.thematic import load_thematic as load
    from tierflow.tables import thematic_tables

    result = load()
    if not lineage.in_task():
        return result
    cat = catalog()
    inputs: list[str] = []
    outputs: list[str] = []
    for table in thematic_tables(cat):
        loaded = result[table.name]
        low, high = loaded["deliveries"]
        if high == low:
            continue
        inputs.append(table_uri(f"pool.{table.dataset.table_name}"))
        if loaded["inserted"] or loaded["updated"]:
            outputs += [table_uri(f"thematic.{table.name}"), table_uri(f"thematic.{table.history}")]
    gps = result["truck_gps"]
    if gps["deliveries"][0] != gps["deliveries"][1]:
        gps_pool = f"pool.{cat.dataset('trans.truck_gps').table_name}"
        inputs += [table_uri(gps_pool), table_uri("library.district_boundary")]  # the geofence
        if gps["inserted"]:
            outputs.append(table_uri("thematic.truck_gps"))
    lineage.report(Lineage.of(inputs, outputs))
    return result


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


def aggregate_tiers(run_id: str, districts_in: list[str] | None = None) -> dict[str, Any]:
    """The tier aggregates of this run; reports the tables its SQL read and wrote, and the
    upward report's folder. ``districts_in``: the pilot districts whose feed partitions
    started this run (the partitioned schedule), named with the missing ones in the report."""
    from tierflow.aggregate.tiers import aggregate, statements

    districts = None
    if districts_in is not None:
        from tierflow.partitions import coverage, load_policy

        pilots = list(catalog().divisions.pilot_codes)
        districts = coverage(load_policy().aggregate, pilots, districts_in)
    result = aggregate(run_id, districts=districts)
    if lineage.in_task():
        tables = lineage.of_statements(statements())
        report = file_uri(result["report"]["path"])
        lineage.report(Lineage.of(tables.inputs, [*tables.outputs, report]))
    answer = {"run_id": result["run_id"], "rows": result["rows"], "report": result["report"]}
    if districts is not None:
        answer["districts"] = districts
    return answer


def districts_in(dag_run: Any, events: Any) -> list[str] | None:
    """The pilot districts whose ``feeds`` partitions an aggregate run consumed (its
    triggering Asset events' keys); None for a run started without a partition (by hand)."""
    if getattr(dag_run, "partition_key", None) is None:
        return None
    keys = {e.partition_key for asset in events for e in events[asset] if e.partition_key}
    return sorted(keys)
