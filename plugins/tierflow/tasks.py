"""Task bodies: plain typed functions the DAGs call (and tests call without Airflow).

They exchange references (paths, dataset ids, delivery ids), never data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tierflow import config
from tierflow.chain import ready_deliveries
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
