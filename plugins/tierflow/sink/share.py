"""District roles of the pull interface (schema ``share``, row-level security).

One role per pilot district, ``district_<code>``: it may read the views in ``share`` and
nothing else; the policies behind them compare each row's district with the role's name.
Roles are cluster-wide in PostgreSQL, so they are created when missing and dropped only
when no other database still holds privileges for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tierflow.pool import quote

_CODE = re.compile(r"^\d{6}$")


def district_role(code: str) -> str:
    if not _CODE.match(code):
        raise ValueError(f"not a 6-digit district code: {code!r}")
    return f"district_{code}"


def ensure_district_roles(conn: Connection, codes: Iterable[str]) -> list[str]:
    """Create (if missing) and grant one read-only role per district; returns the role names."""
    roles = []
    for code in codes:
        role = district_role(code)
        exists = conn.scalar(sa.text("select 1 from pg_roles where rolname = :r"), {"r": role})
        if not exists:
            conn.execute(sa.text(f"create role {quote(role)} nologin"))
        conn.execute(sa.text(f"grant usage on schema share to {quote(role)}"))
        conn.execute(sa.text(f"grant select on all tables in schema share to {quote(role)}"))
        conn.execute(
            sa.text(
                f"grant execute on function share.current_district(), share.clearance_of(text) to {quote(role)}"
            )
        )
        roles.append(role)
    return roles


def drop_district_roles(conn: Connection, codes: Iterable[str]) -> None:
    """Revoke this database's grants; drop each role unless another database still uses it."""
    for role in [district_role(c) for c in codes] + ["tierflow_share"]:
        exists = conn.scalar(sa.text("select 1 from pg_roles where rolname = :r"), {"r": role})
        if not exists:
            continue
        conn.execute(sa.text(f"drop owned by {quote(role)}"))
        conn.execute(sa.text("savepoint drop_role"))
        try:
            conn.execute(sa.text(f"drop role {quote(role)}"))
        except sa.exc.DBAPIError:
            # still granted something in another database of this cluster: keep it there
            conn.execute(sa.text("rollback to savepoint drop_role"))
        else:
            conn.execute(sa.text("release savepoint drop_role"))
