"""The daily chain without a scheduler: the same functions the DAGs call, in order."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from tierflow import storage
from tierflow.contracts import catalog
from tierflow.errors import TierflowError
from tierflow.ingest.readers import DeliveryRejected

if TYPE_CHECKING:
    import datetime as dt

    from upath import UPath

READY_SUFFIX = ".ready"


def ready_deliveries(landing: UPath) -> list[tuple[str, UPath]]:
    """(dataset id, file) for every complete delivery: ``<dept>/<dataset>/<date>/<file>`` with a ``.ready`` marker.

    ``<dataset>`` is the dataset's name within its department (``samr/enterprise``) or its full
    id (``samr/samr.enterprise``).

    A file without its marker may still be being written and is left alone. Only folders
    naming a dataset of the catalog are considered, and nothing outside ``landing`` is followed.
    On object storage (``s3://…``) the same: a marker is an object beside the file's.
    """
    remote = storage.is_remote(landing)
    if not landing.is_dir():
        raise TierflowError(f"{landing}: no such landing directory")
    root = landing if remote else landing.resolve()
    known = {d.id: d for d in catalog().datasets}
    found: list[tuple[str, UPath]] = []
    for marker in sorted(root.glob(f"*/*/*/*{READY_SUFFIX}")):
        data_file = marker.with_name(marker.name[: -len(READY_SUFFIX)])
        department, folder = marker.parts[-4], marker.parts[-3]
        dataset_id = folder if "." in folder else f"{department}.{folder}"
        dataset = known.get(dataset_id)
        if dataset is None or dataset.department != department or not data_file.is_file():
            continue
        if not remote and (data_file.is_symlink() or not data_file.resolve().is_relative_to(root)):
            continue
        found.append((dataset_id, data_file))
    return found


def find_deliveries(path: UPath) -> tuple[UPath, list[tuple[str, UPath]]]:
    """The landing folder at ``path`` (or the ``landing/`` that ``tierflow generate --out``
    writes under it) and its ready deliveries; one-line error when there are none."""
    found = ready_deliveries(path)
    if not found and (path / "landing").is_dir():
        path, found = path / "landing", ready_deliveries(path / "landing")
    if not found:
        raise TierflowError(
            f"{path}: no delivery ready (expected <department>/<dataset>/<date>/<file> with a"
            f" {READY_SUFFIX} marker beside it)"
        )
    return path, found


def merge_order() -> tuple[str, ...]:
    """Libraries in merge order, from the references between them: a library after the ones
    its records point at (legal representatives are persons; licence holders either)."""
    from tierflow.merge.survivorship import libraries as catalog_libraries
    from tierflow.merge.survivorship import load_rules

    libraries = list(catalog_libraries())
    owner = {table: lib for lib in libraries for table in load_rules(lib).tables}
    needs = {
        lib: {
            owner[r.target]
            for table in load_rules(lib).tables.values()
            for r in table.references
            if owner.get(r.target, lib) != lib
        }
        for lib in libraries
    }
    order: list[str] = []
    while len(order) < len(libraries):
        ready = [lib for lib in libraries if lib not in order and needs[lib] <= set(order)]
        if not ready:
            raise TierflowError(f"the libraries reference each other in a cycle: {needs}")
        order.append(ready[0])
    return tuple(order)


def due_dates_delivered(deliveries: list[tuple[str, UPath]]) -> tuple[dt.date, dt.date] | None:
    """The first and last due date the dated deliveries count for (by the one calendar), or
    None when none of them is dated or owed."""
    from tierflow.ingest.pipeline import delivery_date_of
    from tierflow.quality.calendar import due_date_for, responsibility_for

    cat = catalog()
    days = set()
    for dataset_id, path in deliveries:
        entry = responsibility_for(cat, cat.dataset(dataset_id))
        delivered_for = delivery_date_of(path)
        if entry is not None and delivered_for is not None:
            days.add(due_date_for(entry, delivered_for))
    return (min(days), max(days)) if days else None


def run_chain(
    landing: UPath | str,
    *,
    run_gx: bool = True,
    audit: Literal["yesterday", "delivered"] = "yesterday",
) -> dict[str, Any]:
    """Ingest every ready delivery, merge the pools, sink feeds to the pilots, aggregate the tiers.

    ``landing`` is a folder or a storage URL (``s3://bucket/prefix/landing``).
    ``audit`` picks the due dates judged at the end: yesterday's, as the daily audit DAG does,
    or the ones these deliveries count for — a one-off run such as the demo delivers once, so
    every due date before its deliveries would otherwise be listed as missing.
    """
    from tierflow.aggregate import aggregate
    from tierflow.ingest.gx import validate_deliveries
    from tierflow.ingest.pipeline import ingest_file
    from tierflow.merge.run import merge_library
    from tierflow.quality.audit import audit_deliveries
    from tierflow.sink import sink
    from tierflow.sink.signing import feed_secrets

    feed_secrets()  # the sink's secrets, checked before ingest: a missing one fails in one line
    started = time.perf_counter()
    ingested: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    storage.check(storage.root())
    landing, deliveries = find_deliveries(storage.check(storage.path(landing)))
    for dataset_id, path in deliveries:
        try:
            ingested.append(ingest_file(path, dataset_id, run_gx=run_gx))
        except DeliveryRejected as exc:
            rejected.append({"dataset": dataset_id, "file": str(path), "error": str(exc)})
    # the GX reports of what was loaded now, as the ingest DAG's gx_report task writes them
    reports = validate_deliveries([r["delivery_id"] for r in ingested]) if run_gx else None
    merged = [merge_library(library) for library in merge_order()]
    sunk = sink()
    aggregated = aggregate()
    window = due_dates_delivered(deliveries) if audit == "delivered" else None
    audited = audit_deliveries(*window) if window else audit_deliveries()
    return {
        "landing": str(landing),
        "ingested": ingested,
        "rejected": rejected,
        "gx_reports": reports["validated"] if reports else [],
        "merged": merged,
        "sink": sunk,
        "aggregate": aggregated,
        "audit": audited,
        "rows_in": sum(r["rows_in"] for r in ingested),
        "rows_accepted": sum(r["rows_accepted"] for r in ingested),
        "rows_quarantined": sum(r["rows_quarantined"] for r in ingested),
        "seconds": round(time.perf_counter() - started, 1),
    }


def render_chain(result: dict[str, Any]) -> str:
    lines = [
        f"{'dataset':<24}{'rows in':>10}{'accepted':>10}{'quarantined':>13}{'superseded':>12}  quarantine file"
    ]
    for r in result["ingested"]:
        flag = "  (duplicate, not reloaded)" if not r.get("loaded_now", True) else ""
        lines.append(
            f"{r['dataset']:<24}{r['rows_in']:>10}{r['rows_accepted']:>10}{r['rows_quarantined']:>13}"
            f"{r['rows_superseded']:>12}  {r['quarantine']}{flag}"
        )
    for r in result["rejected"]:
        lines.append(f"{r['dataset']:<24} REJECTED: {r['error']}")
    lines.append(
        f"{'total':<24}{result['rows_in']:>10}{result['rows_accepted']:>10}{result['rows_quarantined']:>13}"
        f"   in {result['seconds']} s"
    )
    if result.get("gx_reports"):
        reports = result["gx_reports"]
        passed = sum(1 for r in reports if r.get("success"))
        lines.append(
            f"GX reports after the load: {len(reports)} written, {passed} of {len(reports)}"
            " suites passed (a suite fails when any row broke a blocking rule; those rows are"
            " quarantined, not loaded),"
            f" Data Docs {next((r['data_docs'] for r in reports if 'data_docs' in r), '-')}"
        )
    if result.get("merged"):
        lines.append("")
        lines.append(
            f"{'library':<24}{'rows in':>10}{'inserted':>10}{'updated':>10}{'unchanged':>11}{'records':>10}{'orphans':>9}"
        )
        for m in result["merged"]:
            lines.append(
                f"{m['library']:<24}{m['rows_in']:>10}{m['inserted']:>10}{m['updated']:>10}{m['unchanged']:>11}"
                f"{m['library_rows']:>10}{m['orphans']:>9}"
            )
    if result.get("sink"):
        sunk = result["sink"]
        lines.append("")
        lines.append(
            f"sink run {sunk['run_id']}: {len(sunk['feeds'])} feeds to {len(sunk['districts'])} pilot districts,"
            f" {sunk['rows']} rows in {sunk['seconds']} s"
        )
    if result.get("aggregate"):
        lines.append("aggregate: " + _scalars(result["aggregate"]))
    return "\n".join(lines)


def _scalars(summary: dict[str, Any]) -> str:
    shown = [
        (k, v)
        for k, v in summary.items()
        if isinstance(v, (int, float, str)) and not isinstance(v, bool)
    ]
    return ", ".join(f"{k} {v}" for k, v in shown[:8])
