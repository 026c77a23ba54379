"""Where things live: the data root, the project's contract and suite folders.

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
    """``TIERFLOW_HOME`` (default ``./.tierflow``): landing/, quarantine/, feeds/, docs/."""
    return settings().home.resolve()


def landing_dir() -> Path:
    return data_root() / "landing"


def quarantine_dir() -> Path:
    return data_root() / "quarantine"


def feeds_dir() -> Path:
    return data_root() / "feeds"


def docs_dir() -> Path:
    return data_root() / "docs"


def schemas_dir() -> Path:
    return settings().schemas_dir


def expectations_dir() -> Path:
    return settings().expectations_dir
