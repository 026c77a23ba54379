"""Library and thematic tables generated from the rules and contracts (tierflow.tables) have the
layout the migrations give the tables of design §9, and an upgrade never touches those."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import migrated_database
from tierflow import migrate
from tierflow.cli import main
from tierflow.tables import ensure_tables, library_tables, thematic_tables

pytestmark = pytest.mark.postgres

LAYOUT = {
    "column": """
        select table_name || '.' || column_name || ' ' || data_type || ' nullable=' || is_nullable
            || ' default=' || coalesce(column_default, '') || ' #' || ordinal_position
        from information_schema.columns where table_schema = :schema""",
    "index": "select indexname || ' ' || indexdef from pg_indexes where schemaname = :schema",
    "constraint": """
        select rel.relname || '.' || con.conname || ' ' || pg_get_constraintdef(con.oid)
        from pg_constraint as con join pg_class as rel on rel.oid = con.conrelid
        join pg_namespace as ns on ns.oid = rel.relnamespace where ns.nspname = :schema""",
    "table": """
        select rel.relname || ' options=' || coalesce(array_to_string(rel.reloptions, ','), '')
            || ' rls=' || rel.relrowsecurity
        from pg_class as rel join pg_namespace as ns on ns.oid = rel.relnamespace
        where ns.nspname = :schema and rel.relkind in ('r', 'p')""",
    "policy": """
        select tablename || '.' || policyname || ' ' || array_to_string(roles, ',') || ' ' || qual
        from pg_policies where schemaname = :schema""",
    "grant": """
        select table_name || ' ' || grantee || ' ' || privilege_type
        from information_schema.role_table_grants
        where table_schema = :schema and grantee = 'tierflow_share'""",
}


def layout(engine: sa.Engine, tables: set[str]) -> set[str]:
    """Every column, index, constraint, storage option, policy and grant of ``tables``."""
    found = set()
    with engine.connect() as conn:
        for kind, sql in LAYOUT.items():
            for schema in ("library", "thematic"):
                for line in conn.scalars(sa.text(sql), {"schema": schema}):
                    if line.split(" ")[0].split(".")[0] in tables:
                        found.add(f"{kind} {schema}.{line}")
    return found


def test_generated_tables_have_the_migrations_layout():
    generated = [*library_tables(), *thematic_tables()]
    names = {t.name for t in generated} | {t.history for t in generated}
    assert {"person", "legal_entity", "land_parcel", "address", "e_license"} <= names
    assert "service_case_history" in names
    with migrated_database("tierflow_tables") as engine:
        migrated = layout(engine, names)
        with engine.begin() as conn:
            assert ensure_tables(conn) == []  # the tables of design §9 stay the migrations'
        assert layout(engine, names) == migrated
        with engine.begin() as conn:
            for table in generated:
                conn.execute(sa.text(f"drop table {table.qualified_history}, {table.qualified}"))
        # at head but without a library's tables: a configured warehouse is not changed behind
        # its operator's back, the command says in one line what to run
        with pytest.raises(migrate.WarehouseNotMigrated, match="has no table library.e_license"):
            migrate.require_current(engine)
        with engine.begin() as conn:
            created = ensure_tables(conn)
        assert len(created) == len(generated)
        regenerated = layout(engine, names)
    # The one difference: migration 0001 typed two decimal fields numeric; generated tables
    # take the pool's type of a decimal column (double precision) like the other decimals.
    numeric = {"legal_entity.registered_capital", "land_parcel.area_m2"}
    differing = {line.split(" ")[1] for line in migrated ^ regenerated}
    assert differing == {
        f"library.{table}{suffix}.{column}"
        for table, column in (name.split(".") for name in numeric)
        for suffix in ("", "_history")
    }, sorted(migrated ^ regenerated)


def test_merging_a_library_without_a_survivorship_file_fails_in_one_line(warehouse, capsys):
    assert main(["merge", "--library", "vehicle"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "tierflow merge: error: unknown library 'vehicle'"
        " (known: e_license, geospatial, legal_entity, person)"
    )
