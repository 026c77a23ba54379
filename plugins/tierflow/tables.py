"""Library and thematic tables derived from the rules and the contracts, as pools are (``pool``).

A library is one survivorship file; its tables (``library.<table>`` and ``<table>_history``)
take their columns from the rules (key, then every field in rule order) and their types from
the contracts. A thematic dataset whose feed keeps versions (``schemas/feeds/``, not
append-only) gets ``thematic.<name>`` and its history from its contract. The tables of design
§9 were written by migrations (0001, 0003, 0007, 0009) and stay theirs; ``ensure_tables``
(run by ``tierflow db upgrade`` after Alembic) creates only what has no table yet, with the
same layout, so a fifth library or a twelfth dataset needs no migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tierflow.contracts import Catalog, ColumnType, Dataset, catalog
from tierflow.merge.survivorship import libraries, library_columns, load_rules
from tierflow.pool import PG_TYPES, pool_table, quote
from tierflow.sql_files import sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# The type of a field no source column gives one (derived from the key, or a constant).


@dataclass(frozen=True)
class VersionedTable:
    """A table of current records and its type-2 history, and what fills it."""

    schema: str  # library or thematic
    name: str
    key: tuple[str, ...]
    columns: dict[str, ColumnType]  # key first, in table order
    dataset: Dataset | None = None  # thematic: the dataset whose pool fills it

    @property
    def history(self) -> str:
        return f"{self.name}_history"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{quote(self.name)}"

    @property
    def qualified_history(self) -> str:
        return f"{self.schema}.{quote(self.history)}"

    @property
    def pool(self) -> str:
        assert self.dataset is not None
        return pool_table(self.dataset)


def library_tables(cat: Catalog | None = None) -> list[VersionedTable]:
    """Every table of every library, in library then rule order."""
    cat = cat or catalog()
    return [
        VersionedTable("library", name, table.key, library_columns(table, cat))
        for library in libraries()
        for name, table in load_rules(library).tables.items()
    ]


def thematic_tables(cat: Catalog | None = None) -> list[VersionedTable]:
    """The versioned thematic tables: one per dataset feed that is not append-only."""
    from tierflow.sink.sources import feeds

    cat = cat or catalog()
    found = []
    for source in feeds():
        schema, _, name = source.current_table.partition(".")
        if schema != "thematic" or source.append_only:
            continue
        (dataset_id,) = source.fields
        dataset = cat.dataset(dataset_id)
        columns = {c.name: c.type for c in dataset.columns if c.name != dataset.updated_at}
        found.append(VersionedTable("thematic", name, dataset.key, columns, dataset))
    return found


def table_ddl(table: VersionedTable) -> str:
    """The statements creating ``table`` and its history (one script)."""
    key = ", ".join(quote(k) for k in table.key)
    columns = ",\n    ".join(
        f"{quote(c)} {PG_TYPES[t]}{' not null' if c in table.key else ''}"
        for c, t in table.columns.items()
    )
    names = {
        "table": quote(table.name),
        "history": quote(table.history),
        "history_key": quote(f"{table.history}_key"),
        "history_feed": quote(f"{table.history}_feed"),
        "history_opened": quote(f"{table.history}_opened"),
        "schema": table.schema,
    }
    script = sql("tables", f"{table.schema}_table.sql")
    statements = script.format(columns=columns, key=key, **names)
    if "division_code" in table.columns:
        statements += sql("tables", "district_rows.sql").format(**names)
    return statements


def missing_tables(conn: Connection, cat: Catalog | None = None) -> list[VersionedTable]:
    """The derived tables the warehouse does not have yet."""
    tables = [*library_tables(cat), *thematic_tables(cat)]
    names = [t.qualified for t in tables]
    absent = set(
        conn.scalars(
            sa.text(
                "select t from unnest(cast(:names as text[])) as t where to_regclass(t) is null"
            ),
            {"names": names},
        )
    )
    return [t for t in tables if t.qualified in absent]


def ensure_tables(conn: Connection, cat: Catalog | None = None) -> list[str]:
    """Create every derived table that does not exist yet; returns their names."""
    created = []
    for table in missing_tables(conn, cat):
        conn.exec_driver_sql(table_ddl(table))
        created.append(f"{table.schema}.{table.name}")
    return created
