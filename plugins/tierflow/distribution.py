"""Where each warehouse table lives on a Citus cluster: the distribution plan, as data.

On a plain PostgreSQL server nothing here runs. On a Citus coordinator (the ``citus``
extension is in ``pg_extension``) :func:`apply` runs after every Alembic upgrade or downgrade
and brings each table of the plan that exists to its placement, once (a table already in
Citus's metadata is left as it is):

- the library tables and their histories, hash-distributed by their entity key, and every
  pool that feeds them by the column holding that key, all colocated, so a merge's joins of a
  pool with a library table and its history stay on one shard;
- thematic tables by their key (service cases by case id, truck positions by plate), in the
  same colocation group (every distribution column is text), their pools too;
- a delivery's quarantined and superseded rows by delivery id;
- everything small and read beside them (divisions, lists, consumers, feed ledger, watermarks,
  deliveries and their audit) as reference tables, copied whole to every node.

Migrations stay plain PostgreSQL and run the same on both kinds of server: they create local
tables, which this plan distributes afterwards. :func:`unplanned` names any warehouse table the
plan forgets (a test keeps it empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tierflow.db import is_citus
from tierflow.sql_files import sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

ANCHOR = "library.person"  # every table distributed by a text key is colocated with it
SCHEMAS = ("ref", "pool", "library", "quality", "feed", "thematic", "sharing", "share_secret")


@dataclass(frozen=True)
class Distributed:
    table: str
    column: str
    colocate_with: str | None = ANCHOR  # None: starts a colocation group of its own


@dataclass(frozen=True)
class Reference:
    table: str


Placement = Distributed | Reference

THEMATIC = (
    Distributed("thematic.service_case", "case_id"),
    Distributed("thematic.service_case_history", "case_id"),
    Distributed("thematic.truck_gps", "plate_number"),
)
# Per-row quality records grow with the deliveries: spread by delivery, not copied to every node.
DELIVERY_ROWS = (
    Distributed("quality.quarantine", "delivery_id", colocate_with=None),
    Distributed("quality.superseded", "delivery_id", colocate_with="quality.quarantine"),
)
REFERENCE = tuple(
    Reference(name)
    for name in (
        "ref.division",
        "library.district_boundary",
        "library.merge_watermark",
        "library.record_count",
        "quality.delivery",
        "quality.expectation_result",
        "quality.conflict",
        "quality.orphan",
        "quality.delivery_audit",
        "quality.quarantine_rate",
        "quality.audit_alert",
        "feed.consumer",
        "feed.run",
        "feed.watermark",
        "thematic.load_watermark",
        "thematic.report_run",
        "thematic.tier_aggregate",
        "sharing.consumer",
        "sharing.demand",
        "sharing.event",
        "sharing.negative_entry",
        "sharing.negative_removal",
        "share_secret.consumer_key",
    )
)
# Reference tables whose triggers are row guards (raise, never write elsewhere): safe on shards.
GUARDED_BY_TRIGGERS = {"sharing.event"}


def _libraries() -> list[Distributed]:
    """Each library table and its history by its key's last column (a composite key's most
    selective part: licence numbers, not the handful of licence types), and each pool that
    feeds it by the source column holding that key part. Library and history are colocated:
    the merge closes a version by inserting its library row into the history, shard by shard."""
    from tierflow.contracts import catalog
    from tierflow.merge.survivorship import libraries, load_rules

    datasets = {d.id: d for d in catalog().datasets}
    placements: list[Distributed] = []
    for library in libraries():
        for name, rule in load_rules(library).tables.items():
            column = rule.key[-1]
            placements += [
                Distributed(
                    f"library.{name}", column, None if f"library.{name}" == ANCHOR else ANCHOR
                ),
                Distributed(f"library.{name}_history", column),
            ]
            for alias in rule.sources:
                dataset = datasets[rule.dataset_of(alias)]
                source_column = rule.source_key(alias)[-1]
                placements.append(Distributed(f"pool.{dataset.table_name}", source_column))
    return placements


def _thematic_pools(taken: set[str]) -> list[Distributed]:
    """Pools of datasets no library merges (thematic ones) by their key's first column."""
    from tierflow.contracts import catalog

    return [
        Distributed(f"pool.{d.table_name}", d.key[0])
        for d in catalog().datasets
        if f"pool.{d.table_name}" not in taken
    ]


@cache
def plan() -> tuple[Placement, ...]:
    """The whole plan, in the order it is applied: reference tables (foreign keys point at
    them), then each colocation group's first table, then the rest."""
    distributed: dict[str, Distributed] = {}
    for placement in [*_libraries(), *THEMATIC, *DELIVERY_ROWS]:
        distributed.setdefault(placement.table, placement)  # a pool feeding two tables: once
    for placement in _thematic_pools(set(distributed)):
        distributed[placement.table] = placement
    ordered = sorted(distributed.values(), key=lambda p: p.colocate_with is not None)
    return (*REFERENCE, *ordered)


def prepare_migration(conn: Connection) -> None:
    """On Citus, a migration's transaction talks to each worker over one connection: its DDL
    on distributed tables after a multi-shard statement in the same transaction would
    otherwise fail ("cannot run schema command because there was a parallel operation")."""
    if is_citus(conn):
        conn.execute(sa.text("set local citus.multi_shard_modify_mode to 'sequential'"))


def _placed(conn: Connection) -> set[str]:
    query = sql("distribution", "placed_tables.sql")
    return {name for (name,) in conn.execute(sa.text(query))}


def is_placed(conn: Connection, table: str) -> bool:
    """The table is distributed or a reference table (its rows live on the workers)."""
    return is_citus(conn) and table in _placed(conn)


def _exists(conn: Connection, table: str) -> bool:
    return conn.scalar(sa.text("select to_regclass(:t)"), {"t": table}) is not None


def apply(conn: Connection) -> list[str]:
    """Place every planned table that exists and is not placed yet; returns those placed."""
    if not is_citus(conn):
        return []
    placed, done = _placed(conn), []
    for placement in plan():
        if placement.table in placed or not _exists(conn, placement.table):
            continue
        if isinstance(placement, Reference):
            if placement.table in GUARDED_BY_TRIGGERS:
                conn.execute(sa.text("set local citus.enable_unsafe_triggers to on"))
            conn.execute(sa.text("select create_reference_table(:t)"), {"t": placement.table})
        else:
            conn.execute(
                sa.text("select create_distributed_table(:t, :c, colocate_with => :with)"),
                {
                    "t": placement.table,
                    "c": placement.column,
                    "with": placement.colocate_with or "none",
                },
            )
        done.append(placement.table)
    return done


def distribute_like_parent(conn: Connection, partition: str, parent: str) -> None:
    """A new partition of a distributed table (or a merge's work table, by the same key
    column) distributed like it before rows go in, so a COPY or INSERT into it goes straight
    to the workers' shards (attaching a filled local table would copy its rows through the
    coordinator once more). No-op on plain PostgreSQL."""
    if not is_citus(conn):
        return
    column = conn.scalar(sa.text(sql("distribution", "distribution_column.sql")), {"t": parent})
    if column is not None:
        conn.execute(
            sa.text("select create_distributed_table(:t, :c, colocate_with => :with)"),
            {"t": partition, "c": column, "with": parent},
        )


def unplanned(conn: Connection) -> list[str]:
    """Warehouse tables the plan does not place (delivery partitions follow their pool)."""
    query = sql("distribution", "warehouse_tables.sql")
    planned = {p.table for p in plan()}
    tables = conn.scalars(sa.text(query), {"schemas": list(SCHEMAS)})
    return [t for t in tables if t not in planned]
