"""Where local things live: the data root, the project's contract and suite folders.

The embedded database, secrets, the GX project, caches and spill files are under the local
``TIERFLOW_HOME``; landing, quarantine, feeds, reports and Data Docs under
``TIERFLOW_STORAGE`` (``tierflow.storage``: a local folder or ``s3://bucket/prefix``).

Everything is overridable by environment variable (read by ``tierflow.settings``) so the same
code runs from a checkout, under Airflow (plugins/ on sys.path) and in the docker-compose stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierflow.settings import PROJECT_ROOT, settings

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PROJECT_ROOT", "data_root"]


def data_root() -> Path:
    """``TIERFLOW_HOME`` (default ``./.tierflow``): local state (database, secrets, spill)."""
    return settings().home.resolve()


def docs_build_dir() -> Path:
    """The local GX project Data Docs are built in (``$TIERFLOW_HOME/docs``)."""
    return data_root() / "docs"


def schemas_dir() -> Path:
    return settings().schemas_dir


def expectations_dir() -> Path:
    return settings().expectations_dir
