"""What the Citus tests compare between the single-node run and the cluster's, and how both
runs are made comparable.

Both servers run the same chain on the same generated files (ingest, the real merge, the
thematic loads). Their rows then differ in two ways only, neither of them data: the times the
merge and the loads stamped (each server's ``now()``) and the delivery ids (each server's own
sequence). The libraries are compared without the first and with provenance naming each
delivery by its dataset and file digest; the feeds, byte for byte, once every version time of
both warehouses is set to one instant (the same update on both, no row copied across).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

VERSION_TIMES = ("created_at", "changed_at", "valid_from", "valid_to", "loaded_at")
ONE_INSTANT = "2026-02-28 12:00:00+08"
CHAIN_SCHEMAS = ("pool", "library", "thematic")
NOT_VERSIONED = (
    "merge_watermark",
    "record_count",
    "load_watermark",
    "tier_aggregate",
    "report_run",
)
SEEDED = ("district_boundary",)  # reference data the migrations load, kept by clear_chain

TABLES = """
select n.nspname, c.relname
from pg_class as c
inner join pg_namespace as n on n.oid = c.relnamespace
where n.nspname = any(:schemas) and c.relkind in ('r', 'p') and not c.relispartition
order by 1, 2
"""


def _tables(conn: sa.Connection, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(s, t) for s, t in conn.execute(sa.text(TABLES), {"schemas": list(schemas)})]


def _columns(conn: sa.Connection, schema: str, table: str) -> list[str]:
    return list(
        conn.scalars(
            sa.text(
                "select attname from pg_attribute where attrelid = to_regclass(:t)"
                " and attnum > 0 and not attisdropped order by attnum"
            ),
            {"t": f'"{schema}"."{table}"'},
        )
    )


def clear_chain(engine: sa.Engine) -> None:
    """Empty the pools, libraries and thematic tables (earlier tests' rows)."""
    with engine.begin() as conn:
        tables = [(s, t) for s, t in _tables(conn, CHAIN_SCHEMAS) if t not in SEEDED]
        names = ", ".join(f'"{s}"."{t}"' for s, t in tables)
        conn.execute(sa.text(f"truncate {names}"))


def stamp_one_instant(engine: sa.Engine) -> None:
    """Every version time of the libraries and thematic tables set to ONE_INSTANT."""
    with engine.begin() as conn:
        for schema, table in _tables(conn, ("library", "thematic")):
            if table in NOT_VERSIONED:
                continue
            times = [c for c in _columns(conn, schema, table) if c in VERSION_TIMES]
            if times:
                assignments = ", ".join(
                    f'"{c}" = case when "{c}" is not null then cast(:t as timestamptz) end'
                    for c in times
                )
                conn.execute(
                    sa.text(f'update "{schema}"."{table}" set {assignments}'), {"t": ONE_INSTANT}
                )


def library_rows(engine: sa.Engine) -> dict[str, list[str]]:
    """Every library table's rows, sorted, without version times; provenance names each
    delivery by (dataset, file digest) instead of this server's delivery id."""
    with engine.connect() as conn:
        deliveries = {
            i: f"{dataset}:{digest}"
            for i, dataset, digest in conn.execute(
                sa.text("select delivery_id, dataset, file_sha256 from quality.delivery")
            )
        }
        out: dict[str, list[str]] = {}
        for schema, table in _tables(conn, ("library",)):
            if table in NOT_VERSIONED:
                continue
            columns = [c for c in _columns(conn, schema, table) if c not in VERSION_TIMES]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = []
            for row in conn.execute(sa.text(f'select {select} from "{schema}"."{table}"')):
                record: dict[str, Any] = dict(row._mapping)
                if isinstance(record.get("provenance"), dict):
                    record["provenance"] = {
                        k: deliveries.get(v, v) if isinstance(v, int) else v
                        for k, v in record["provenance"].items()
                    }
                rows.append(json.dumps(record, sort_keys=True, default=str))
            out[f"{schema}.{table}"] = sorted(rows)
    return out


def aggregate_facts(engine: sa.Engine, run_id: str) -> list[tuple]:
    """A run's tier aggregates, in one order, without when they were computed."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select * from thematic.tier_aggregate where run_id = :r"), {"r": run_id}
        )
        keys = [k for k in rows.keys() if k not in ("computed_at", "created_at")]
        return sorted(tuple(r._mapping[k] for k in keys) for r in rows)
