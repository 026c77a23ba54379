"""What a feed's ``_manifest.json`` says (before ``publish`` adds its files and signs it).

A change feed's manifest names its district, run, window, key, schema, op counts and how
each column was treated; a purge notice's says so (``"purge": true``), why, and how its
keys were sent. Both are plain data: the same plan, run and window give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from tierflow.sharing.policy import CLEAR, FeedPlan

if TYPE_CHECKING:
    from tierflow.sink.purge import PurgeJob

FORMAT = "tierflow-feed/1"
PSEUDONYM_KEY = "per-consumer key derived from the platform secret"


def iso(value: dt.datetime | None) -> str | None:
    """A watermark as manifests and acknowledgements write it: UTC, ISO 8601."""
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def op_counts(table: pa.Table) -> dict[str, int]:
    ops = {"insert": 0, "update": 0, "delete": 0}
    for entry in pc.value_counts(table.column("op")).to_pylist() if table.num_rows else []:
        ops[entry["values"]] = int(entry["counts"])
    return ops


def manifest_for(
    plan: FeedPlan,
    run_id: str,
    as_of: dt.date,
    window: tuple[dt.datetime | None, dt.datetime],
    ops: dict[str, int],
) -> dict[str, Any]:
    schema = plan.schema()
    return {
        "format": FORMAT,
        "division_code": plan.division_code,
        "consumer_id": plan.consumer_id,
        "feed": plan.name,
        "source": plan.source.table,
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "watermark": {"from": iso(window[0]), "to": iso(window[1])},
        "key": [plan.source.output_name(k) for k in plan.source.key],
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        "ops": ops,
        "clearance": plan.clearance,
        "masking": plan.masking(),
        "pseudonym_key": PSEUDONYM_KEY if plan.pseudonymised else None,
        "withheld": plan.withheld,
        "demand_ids": list(plan.demand_ids),
    }


def purge_manifest(job: PurgeJob, run_id: str, as_of: dt.date) -> dict[str, Any]:
    schema = job.schema()
    masking = {job.source.output_name(k): t for k, t in job.key_treatment.items() if t != CLEAR}
    return {
        "format": FORMAT,
        "division_code": job.division_code,
        "consumer_id": job.consumer_id,
        "feed": job.name,
        "source": job.source.table,
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "purge": True,
        "reason": job.reason,
        "demand_ids": list(job.demand_ids),
        "watermark": {"from": iso(job.sent_from), "to": iso(job.sent_to)},
        "key": [job.source.output_name(k) for k in job.source.key],
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        "clearance": job.clearance,
        "masking": masking,
        "pseudonym_key": PSEUDONYM_KEY if job.pseudonymised else None,
        "withheld": {},
    }


def summary(manifest: dict[str, Any], path: str) -> dict[str, Any]:
    """A published feed in the run's JSON summary."""
    return {
        "division_code": manifest["division_code"],
        "feed": manifest["feed"],
        "path": path,
        "rows": manifest["rows"],
        "ops": manifest["ops"],
        "watermark": manifest["watermark"],
        "files": len(manifest["files"]),
    }
