"""The SQL loader: statements live in ``sql/<area>/<name>.sql``, read through :func:`sql_text`.

Placeholders in braces are identifiers only (quoted by the caller, from the contracts);
values are always bound parameters.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def _read(area: str, name: str) -> str:
    return (files("tierflow") / "sql" / area / name).read_text(encoding="utf-8")


def sql_text(area: str, name: str, **identifiers: str) -> str:
    """The statement ``sql/<area>/<name>``, with its ``{identifier}`` placeholders filled in."""
    text = _read(area, name)
    return text.format(**identifiers) if identifiers else text
