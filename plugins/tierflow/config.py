"""Where things live: the storage root (files), the local data root, contracts and suites.

Landing, quarantine, feeds, reports and Data Docs live under ``TIERFLOW_STORAGE``
(``tierflow.storage``: a local folder or ``s3://bucket/prefix``); the embedded database,
secrets, the GX project, caches and spill files under the local ``TIERFLOW_HOME``.

Everything is overridable by environment variable (read by ``tierflow.settings``) so the same
code runs from a checkout, under Airflow (plugins/ on sys.path) and in the docker-compose stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierflow import storage
from tierflow.settings import PROJECT_ROOT, settings

if TYPE_CHECKING:
    from pathlib import Path

    from upath import UPath

__all__ = ["PROJECT_ROOT", "data_root"]


def data_root() -> Path:
    """``TIERFLOW_HOME`` (default ``./.tierflow``): local state (database, secrets, spill)."""
    return settings().home.resolve()


def landing_dir() -> UPath:
    return storage.root() / "landing"


def quarantine_dir() -> UPath:
    return storage.root() / "quarantine"


def feeds_dir() -> UPath:
    return storage.root() / "feeds"


def reports_dir() -> UPath:
    return storage.root() / "reports"


def docs_dir() -> UPath:
    """Where Data Docs are published (``<storage>/docs``)."""
    return storage.root() / "docs"


def docs_build_dir() -> Path:
    """The local GX project Data Docs are built in (``$TIERFLOW_HOME/docs``)."""
    return data_root() / "docs"


def schemas_dir() -> Path:
    return settings().schemas_dir


def expectations_dir() -> Path:
    return settings().expectations_dir
