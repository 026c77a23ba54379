"""Where things live: the data root, the project's contract and suite folders.

Everything is overridable by environment variable so the same code runs from a
checkout, under Airflow (plugins/ on sys.path) and in the docker-compose stack.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    """``TIERFLOW_HOME`` (default ``./.tierflow``): landing/, quarantine/, feeds/, docs/."""
    return Path(os.environ.get("TIERFLOW_HOME", ".tierflow")).resolve()


def landing_dir() -> Path:
    return data_root() / "landing"


def quarantine_dir() -> Path:
    return data_root() / "quarantine"


def feeds_dir() -> Path:
    return data_root() / "feeds"


def docs_dir() -> Path:
    return data_root() / "docs"


def schemas_dir() -> Path:
    return Path(os.environ.get("TIERFLOW_SCHEMAS_DIR", PROJECT_ROOT / "schemas"))


def expectations_dir() -> Path:
    return Path(os.environ.get("TIERFLOW_EXPECTATIONS_DIR", PROJECT_ROOT / "expectations"))
