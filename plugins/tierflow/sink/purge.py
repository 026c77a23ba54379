"""Purge notices: when a district may no longer receive a feed it has received.

A demand rejected, expired or revoked (or a feed whose key fell under the negative list)
leaves the compiled policy without that feed. The district's next run then carries a purge
notice for it instead: a feed whose manifest says ``"purge": true`` with the ended demands
and why, and whose rows are every key the district received, as ``op = delete``, keyed as
it received them (clear, masked, or under its own pseudonym key). The acknowledged
watermark is then forgotten, so nothing more flows until a new approval, which starts
again with a first feed. The notice is planned in ``feed.run`` like any run (kind
``purge``, its key range and treatments recorded), so a re-run writes the same bytes.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import ClientCursor

from tierflow.errors import TierflowError
from tierflow.lists import demand_in_force
from tierflow.masking import PSEUDONYM, install_key
from tierflow.sharing.policy import ARROW_TYPES, CLEAR
from tierflow.sink import ledger
from tierflow.sink.sources import FeedSource, feed_source
from tierflow.sink.sql import template, to_psycopg
from tierflow.sink.statements import purge_keys_sql

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.engine import Engine

    from tierflow.contracts import Catalog


@dataclass(frozen=True)
class PurgeJob:
    """One (district, feed) purge notice of a run."""

    consumer_id: str
    division_code: str
    clearance: int
    source: FeedSource
    demand_ids: tuple[str, ...]  # the demands that had let the feed flow
    reason: str
    key_treatment: dict[str, str]  # key column → treatment, as last sent
    sent_from: dt.datetime
    sent_to: dt.datetime
    planned_at: dt.datetime
    path: Path

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def pseudonymised(self) -> bool:
        return PSEUDONYM in self.key_treatment.values()

    @property
    def publish_lock(self) -> str:
        return ledger.publish_lock(self.consumer_id, self.name)

    def schema(self) -> pa.Schema:
        fields = [
            pa.field("op", pa.string(), nullable=False),
            pa.field("changed_at", ARROW_TYPES["timestamp"], nullable=False),
        ]
        for column in self.source.key:
            kind = (
                "text" if self.key_treatment[column] == PSEUDONYM else self.source.columns[column]
            )
            fields.append(pa.field(self.source.output_name(column), ARROW_TYPES[kind]))
        return pa.schema(fields)


def why_ended(cat: Catalog, demand_ids: list[str], as_of: dt.date) -> str:
    """One line per ended demand: rejected, revoked, expired on …, or withdrawn."""
    by_id = {d.id: d for d in cat.demand.demands}
    reasons = []
    for demand_id in demand_ids:
        demand = by_id.get(demand_id)
        if demand is None:
            reasons.append(f"{demand_id}: withdrawn from the demand list")
        elif demand.status not in ("approved", "expired"):
            reasons.append(f"{demand_id}: {demand.status}")
        elif demand.expires_on is not None and demand.expires_on < as_of:
            reasons.append(f"{demand_id}: expired on {demand.expires_on.isoformat()}")
        elif not demand_in_force(demand, as_of):
            reasons.append(f"{demand_id}: not in force on {as_of.isoformat()}")
        else:
            reasons.append(f"{demand_id}: the feed's key may no longer be shared")
    return "; ".join(reasons) or "no demand in force"


def _sent_treatment(row: Any) -> dict[str, str]:
    if row.key_treatment is not None:
        return dict(row.key_treatment)
    # runs published before the ledger kept treatments: their manifest says
    try:
        manifest = json.loads((Path(row.path) / "_manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TierflowError(
            f"{row.consumer_id}/{row.feed_name}: cannot tell how run {row.last_run_id}"
            f" sent its keys ({exc}); a purge notice needs it"
        ) from exc
    source = feed_source(row.feed_name)
    masking = manifest.get("masking", {})
    return {k: masking.get(source.output_name(k), CLEAR) for k in source.key}


def plan_purges(
    eng: Engine,
    cat: Catalog,
    consumers: dict[str, tuple[str, int]],
    live: set[tuple[str, str]],
    run_id: str,
    as_of: dt.date,
    path_of: Any,
) -> list[PurgeJob]:
    """The purge notices of this run: recorded earlier for this run id, or newly due.

    ``consumers``: consumer id → (division code, clearance); ``live``: the (consumer, feed)
    pairs the policy lets flow now. A new notice is recorded in ``feed.run`` here.
    """
    ids = sorted(consumers)
    with eng.begin() as conn:
        jobs = [
            PurgeJob(
                r.consumer_id,
                consumers[r.consumer_id][0],
                consumers[r.consumer_id][1],
                feed_source(r.feed_name),
                tuple(r.demand_ids),
                r.purge_reason,
                dict(r.key_treatment),
                r.watermark_from,
                r.watermark_to,
                r.planned_at,
                path_of(consumers[r.consumer_id][0], r.feed_name),
            )
            for r in ledger.recorded_purges(conn, run_id, ids)
        ]
        done = {(j.consumer_id, j.name) for j in jobs}
        for row in ledger.ended_feeds(conn, ids):
            key = (row.consumer_id, row.feed_name)
            if key in live or key in done:
                continue
            code, clearance = consumers[row.consumer_id]
            job = PurgeJob(
                row.consumer_id,
                code,
                clearance,
                feed_source(row.feed_name),
                tuple(row.demand_ids or ()),
                why_ended(cat, list(row.demand_ids or ()), as_of),
                _sent_treatment(row),
                row.sent_from,
                row.sent_to,
                row.planned_at,
                path_of(code, row.feed_name),
            )
            ledger.record_purge(
                conn,
                run_id,
                as_of,
                {
                    "c": job.consumer_id,
                    "f": job.name,
                    "wf": job.sent_from,
                    "wt": job.sent_to,
                    "p": str(job.path),
                    "d": list(job.demand_ids),
                    "k": job.key_treatment,
                    "why": job.reason,
                    "at": job.planned_at,
                },
            )
            jobs.append(job)
    return sorted(jobs, key=lambda j: (j.division_code, j.name))


def purge_table(eng: Engine, job: PurgeJob, key: bytes | None) -> pa.Table:
    """The notice's rows: every received key as a delete, in key order (bytewise)."""
    schema = job.schema()
    with eng.connect() as conn, conn.begin():
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute(template("session_utc.sql"))
            if job.pseudonymised:
                if key is None:
                    raise ValueError("a pseudonymised purge notice needs the consumer key")
                install_key(cursor, key)
            sql = to_psycopg(purge_keys_sql(job.source, job.division_code, job.key_treatment))
            statement = ClientCursor(raw).mogrify(
                f"copy ({sql}) to stdout (format csv, header true)",
                {"sent_from": job.sent_from, "sent_to": job.sent_to},
            )
            buffer = io.BytesIO()
            with cursor.copy(statement) as copy:
                for block in copy:
                    buffer.write(block)
    key_fields = schema.names[2:]
    buffer.seek(0)
    keys = (
        pacsv.read_csv(
            buffer,
            convert_options=pacsv.ConvertOptions(
                column_types={f: schema.field(f).type for f in key_fields},
                strings_can_be_null=False,
            ),
        )
        if buffer.getbuffer().nbytes
        else pa.table({f: pa.array([], schema.field(f).type) for f in key_fields})
    )
    rows = keys.num_rows
    table = pa.table(
        {
            "op": pa.array(["delete"] * rows, pa.string()) if rows else pa.array([], pa.string()),
            "changed_at": pa.array([job.planned_at] * rows, ARROW_TYPES["timestamp"])
            if rows
            else pa.array([], ARROW_TYPES["timestamp"]),
            **{f: keys.column(f) for f in key_fields},
        },
        schema=schema,
    )
    order = pc.sort_indices(
        table.select(key_fields), sort_keys=[(k, "ascending") for k in key_fields]
    )
    return table.take(order).combine_chunks()
