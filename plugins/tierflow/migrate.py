"""Alembic migrations driven from code (``tierflow db upgrade|downgrade|current``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from tierflow.db import engine as default_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(target: str = "head", eng: Engine | None = None) -> str | None:
    eng = eng or default_engine()
    with eng.begin() as conn:
        command.upgrade(_config(conn), target)
    return current(eng)


def downgrade(target: str = "base", eng: Engine | None = None) -> str | None:
    eng = eng or default_engine()
    with eng.begin() as conn:
        command.downgrade(_config(conn), target)
    return current(eng)


def current(eng: Engine | None = None) -> str | None:
    eng = eng or default_engine()
    with eng.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
