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

import datetime as dt
import io
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from psycopg import ClientCursor
from sqlalchemy.engine import Connection, Engine

from tierflow.contracts import Catalog
from tierflow.errors import TierflowError
from tierflow.lists import demand_in_force
from tierflow.masking import PSEUDONYM, install_key, treatment_sql
from tierflow.pool import quote
from tierflow.sharing.policy import ARROW_TYPES, CLEAR, SQL_TYPES, FeedPlan
from tierflow.sink.extract import qualified, to_psycopg
from tierflow.sink.sources import FeedSource, feed_source

SQL = files("tierflow") / "sql" / "sink"


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
        return f"tierflow.sink.publish.{self.consumer_id}.{self.name}"

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


def key_treatment(plan: FeedPlan) -> dict[str, str]:
    """How a plan sends its key columns (what a later purge notice must repeat)."""
    return {c.column: c.treatment for c in plan.columns if c.column in plan.source.key}


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
        recorded = conn.execute(
            sa.text(
                "select consumer_id, feed_name, watermark_from, watermark_to, demand_ids,"
                " key_treatment, purge_reason, planned_at from feed.run"
                " where run_id = :r and kind = 'purge' and consumer_id = any(:cs)"
            ),
            {"r": run_id, "cs": ids},
        ).all()
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
            for r in recorded
        ]
        done = {(j.consumer_id, j.name) for j in jobs}
        ended = conn.execute(
            sa.text((SQL / "purge_ended.sql").read_text(encoding="utf-8")),
            {"consumers": ids},
        ).all()
        now = conn.scalar(sa.text("select now()"))
        for row in ended:
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
                now,
                path_of(code, row.feed_name),
            )
            _record(conn, job, run_id, as_of)
            jobs.append(job)
    return sorted(jobs, key=lambda j: (j.division_code, j.name))


def _record(conn: Connection, job: PurgeJob, run_id: str, as_of: dt.date) -> None:
    conn.execute(
        sa.text(
            "insert into feed.run (run_id, consumer_id, feed_name, watermark_from, watermark_to,"
            " row_count, path, status, as_of, kind, demand_ids, key_treatment, purge_reason,"
            " planned_at) values (:r, :c, :f, :wf, :wt, 0, :p, 'writing', :a, 'purge', :d,"
            " cast(:k as jsonb), :why, :at)"
        ),
        {
            "r": run_id,
            "c": job.consumer_id,
            "f": job.name,
            "wf": job.sent_from,
            "wt": job.sent_to,
            "p": str(job.path),
            "a": as_of,
            "d": list(job.demand_ids),
            "k": json.dumps(job.key_treatment, sort_keys=True),
            "why": job.reason,
            "at": job.planned_at,
        },
    )


def keys_sql(job: PurgeJob) -> str:
    source = job.source
    code = job.division_code
    if not code.isdigit() or len(code) != 6:
        raise ValueError(f"not a district code: {code!r}")
    scope = source.scope_sql("h", f"'{code}'")
    return (
        (SQL / "purge_keys.sql")
        .read_text(encoding="utf-8")
        .format(
            key_columns=", ".join(f"h.{quote(k)}" for k in source.key),
            source=qualified(source.table),
            scope=scope,
            version_time=quote(source.version_time),
            still_current=(
                "true"
                if source.append_only
                else '(h."valid_to" is null or h."valid_to" > :sent_from)'
            ),
            key_values=", ".join(
                f"{treatment_sql(f'h.{quote(k)}', job.key_treatment[k], SQL_TYPES[source.columns[k]])}"
                f" as {quote(source.output_name(k))}"
                for k in source.key
            ),
        )
    )


def purge_table(eng: Engine, job: PurgeJob, key: bytes | None) -> pa.Table:
    """The notice's rows: every received key as a delete, in key order (bytewise)."""
    schema = job.schema()
    with eng.connect() as conn, conn.begin():
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute("set local timezone = 'UTC'")
            if job.pseudonymised:
                if key is None:
                    raise ValueError("a pseudonymised purge notice needs the consumer key")
                install_key(cursor, key)
            statement = ClientCursor(raw).mogrify(
                f"copy ({to_psycopg(keys_sql(job))}) to stdout (format csv, header true)",
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


def purge_manifest(job: PurgeJob, run_id: str, as_of: dt.date, format_: str) -> dict[str, Any]:
    schema = job.schema()
    masking = {job.source.output_name(k): t for k, t in job.key_treatment.items() if t != CLEAR}
    return {
        "format": format_,
        "division_code": job.division_code,
        "consumer_id": job.consumer_id,
        "feed": job.name,
        "source": job.source.table,
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "purge": True,
        "reason": job.reason,
        "demand_ids": list(job.demand_ids),
        "watermark": {
            "from": job.sent_from.astimezone(dt.UTC).isoformat(),
            "to": job.sent_to.astimezone(dt.UTC).isoformat(),
        },
        "key": [job.source.output_name(k) for k in job.source.key],
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        "clearance": job.clearance,
        "masking": masking,
        "pseudonym_key": "per-consumer key derived from the platform secret"
        if job.pseudonymised
        else None,
        "withheld": {},
    }
