"""The one reader of tierflow's SQL files (``tierflow/sql/<area>/<name>.sql``).

Statements live beside each other by area (ingest, merge, sink, sharing, quality, ui,
aggregate, locks, migrations) in the CTE style of the data layers; modules ask for them by
area and name instead of each opening files of its own. Files are read once per process.
Placeholders in braces are identifiers only (quoted by the caller, from the contracts);
values are always bound parameters.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import sqlalchemy as sa

ROOT = files("tierflow") / "sql"


@cache
def _read(area: str, filename: str) -> str:
    path = ROOT / area / filename
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {area}/{filename} in tierflow/sql")
    return path.read_text(encoding="utf-8")


def sql(area: str, name: str, /, **identifiers: str) -> str:
    """The text of ``sql/<area>/<name>`` (``.sql`` added when missing), its ``{identifier}``
    placeholders filled in."""
    text = _read(area, name if name.endswith(".sql") else f"{name}.sql")
    return text.format(**identifiers) if identifiers else text


def statement(area: str, name: str, /, **identifiers: str) -> sa.TextClause:
    """``sql(area, name, ...)`` as a SQLAlchemy text clause, ready for bound parameters."""
    return sa.text(sql(area, name, **identifiers))


def split(text: str) -> list[str]:
    """SQL text of several statements, one at a time (comments-only pieces dropped): Citus
    forwards some DDL to its workers as the text it received, and a worker refuses several
    statements in one prepared command; each piece here can run on its own."""
    import sqlparse

    return [
        piece
        for piece in sqlparse.split(text)
        if sqlparse.format(piece, strip_comments=True).strip()
    ]


def statements(area: str, name: str, /, **identifiers: str) -> list[str]:
    """A file of several statements, one at a time (see :func:`split`)."""
    return split(sql(area, name, **identifiers))
