"""The sink's SQL files (``sql/sink/*.sql``) through the one loader (:mod:`tierflow.sql_files`).

Statements are files; what varies between sources is identifiers and generated column
lists only, put in with ``str.format`` (callers quote them), never values: values are
bound (``:name`` in the files, as SQLAlchemy writes them).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tierflow import sql_files
from tierflow.pool import quote

if TYPE_CHECKING:
    import sqlalchemy as sa

_BIND = re.compile(r"(?<![:\w]):([a-z_]+)\b")


def template(file: str, /, **identifiers: str) -> str:
    """The text of ``sql/sink/<file>``, its ``{placeholders}`` filled (``{{``: a brace)."""
    return sql_files.sql("sink", file, **identifiers)


def statement(file: str, /, **identifiers: str) -> sa.TextClause:
    """A file as a SQLAlchemy statement (``:name`` binds)."""
    return sql_files.statement("sink", file, **identifiers)


def to_psycopg(sql: str) -> str:
    """``:name`` binds (as in the SQL files) → psycopg ``%(name)s``; ``::`` casts untouched."""
    return _BIND.sub(r"%(\1)s", sql.replace("%", "%%"))


def qualified(table: str) -> str:
    schema, name = table.split(".")
    return f"{quote(schema)}.{quote(name)}"
