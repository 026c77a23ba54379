"""Alembic migrations driven from code (``tierflow db upgrade|downgrade|current``).

tierflow's migration history lives in its own version table, ``public.tierflow_alembic_version``,
so Airflow's metadata (whose Alembic uses ``public.alembic_version``) may share the database.
A database migrated before that keeps working: its tierflow revision is moved out of
``alembic_version`` on the next upgrade (Airflow's own row, if any, stays).

A command that needs the warehouse checks its revision first (:func:`require_current`):
the embedded zero-setup server is migrated on first use; a configured database is never
migrated behind its operator's back: the command stops with one line saying to run
``tierflow db upgrade``.

At head, an upgrade also creates the tables of any library or versioned thematic dataset the
migrations did not (``tierflow.tables``): a library or dataset is added as data, not as a
migration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tierflow import distribution, locks
from tierflow.db import engine as default_engine
from tierflow.errors import TierflowError
from tierflow.sql_files import statement, statements

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "tierflow_alembic_version"
LEGACY_VERSION_TABLE = "alembic_version"


class WarehouseNotMigrated(TierflowError):
    """The database's schema is older than this tierflow (or absent)."""


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    cfg.attributes["version_table"] = VERSION_TABLE
    return cfg


def run_sql_file(name: str, **identifiers: str) -> None:
    """A migration's SQL file (``sql/migrations/<name>``, ``{placeholders}`` filled in), one
    statement at a time: Citus forwards some DDL (policies, row security, multi-action ALTER
    TABLE) to its workers as the text it received, and a worker refuses several statements in
    one prepared command."""
    from alembic import op

    for piece in statements("migrations", name, **identifiers):
        op.execute(piece)


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def _adopt_legacy_version(conn: Connection) -> None:
    """Move a tierflow revision recorded in ``public.alembic_version`` to tierflow's table."""
    if conn.scalar(sa.text(f"select to_regclass('public.{VERSION_TABLE}')")) is not None:
        return
    if conn.scalar(sa.text(f"select to_regclass('public.{LEGACY_VERSION_TABLE}')")) is None:
        return
    ours = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    recorded = conn.scalars(statement("migrations", "legacy_versions"))
    mine = [v for v in recorded if v in ours]
    if not mine:
        return
    params = {"v": mine[0], "vs": mine}
    for piece in statements("migrations", "legacy_version_adopt"):
        conn.execute(sa.text(piece), params)
    if not conn.scalar(sa.text("select count(*) from public.alembic_version")):
        conn.execute(sa.text("drop table public.alembic_version"))


def upgrade(target: str = "head", eng: Engine | None = None) -> str | None:
    eng = eng or default_engine()
    with eng.begin() as conn:
        # one migrating process at a time (two first commands on a fresh embedded server)
        locks.hold_for_transaction(conn, "tierflow.migrate")
        _adopt_legacy_version(conn)
        distribution.prepare_migration(conn)
        command.upgrade(_config(conn), target)
        if target == "head":
            # a library or thematic dataset added since the migrations: its tables, generated
            from tierflow.tables import ensure_tables

            ensure_tables(conn)
        distribution.apply(conn)  # on a Citus coordinator: the tables placed on the workers
    return current(eng)


def downgrade(target: str = "base", eng: Engine | None = None) -> str | None:
    eng = eng or default_engine()
    with eng.begin() as conn:
        _adopt_legacy_version(conn)
        distribution.prepare_migration(conn)
        command.downgrade(_config(conn), target)
        distribution.apply(conn)  # tables a downgrade re-created are placed again
    return current(eng)


def current(eng: Engine | None = None) -> str | None:
    eng = eng or default_engine()
    with eng.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        revision = context.get_current_revision()
        if revision is None:  # migrated before the history moved to its own table
            legacy = MigrationContext.configure(conn).get_current_revision()
            ours = {r.revision for r in ScriptDirectory.from_config(_config()).walk_revisions()}
            return legacy if legacy in ours else None
        return revision


def require_current(eng: Engine | None = None, *, embedded: bool = False) -> str:
    """The warehouse at this tierflow's head revision, or one line saying what to do.

    ``embedded``: the zero-setup server, which is brought up to date instead.
    """
    from tierflow.db import describe
    from tierflow.tables import missing_tables

    eng = eng or default_engine()
    wanted = head()
    have = current(eng)
    if have == wanted:
        with eng.connect() as conn:
            missing = [f"{t.schema}.{t.name}" for t in missing_tables(conn)]
        if not missing:
            return have
    if embedded:
        return upgrade(eng=eng) or wanted
    if have == wanted:
        raise WarehouseNotMigrated(
            f"the warehouse {describe(eng.url)} has no table {', '.join(missing)} yet"
            " (a library or dataset added since its last upgrade): run `tierflow db upgrade`"
        )
    state = "has no tierflow schema" if have is None else f"is at revision {have}"
    raise WarehouseNotMigrated(
        f"the warehouse {describe(eng.url)} {state}, this tierflow needs {wanted}:"
        " run `tierflow db upgrade`"
    )
