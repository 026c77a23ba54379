"""The one reader of tierflow's SQL files (``tierflow/sql/<area>/<name>.sql``).

Statements live beside each other by area (ingest, merge, sink, sharing, quality, ui,
aggregate, migrations) in the CTE style of the data layers; modules ask for them by area and
name instead of each opening files of its own. Files are read once per process.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import sqlalchemy as sa

ROOT = files("tierflow") / "sql"


@cache
def sql(area: str, name: str) -> str:
    """The text of ``sql/<area>/<name>`` (``.sql`` added when missing)."""
    filename = name if name.endswith(".sql") else f"{name}.sql"
    path = ROOT / area / filename
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {area}/{filename} in tierflow/sql")
    return path.read_text(encoding="utf-8")


def statement(area: str, name: str) -> sa.TextClause:
    """``sql(area, name)`` as a SQLAlchemy text clause, ready for bound parameters."""
    return sa.text(sql(area, name))
