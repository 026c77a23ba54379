"""One chain's warehouse on one node and on the cluster: the same rows in both (the bench's
Citus case and the Citus tests share this copy).

The merge does not run on Citus yet (issue #15 redesigns it first), so the cluster's library
and thematic tables are filled by copying the single-node warehouse's rows (COPY out of one
server, COPY into the other); everything read from them afterwards (feeds, pull views,
aggregates) must then come out the same on both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from collections.abc import Sequence

COPIED = ("library", "thematic")  # what the sink, the pull views and the aggregates read

TABLES = """
select format('%I.%I', n.nspname, c.relname)
from pg_class as c
inner join pg_namespace as n on n.oid = c.relnamespace
where n.nspname = any(:schemas) and c.relkind in ('r', 'p') and not c.relispartition
order by 1
"""


def _columns(conn: sa.Connection, table: str) -> list[str]:
    """The table's stored columns (generated ones are computed again on arrival)."""
    return list(
        conn.scalars(
            sa.text(
                "select quote_ident(attname) from pg_attribute where attrelid = to_regclass(:t)"
                " and attnum > 0 and not attisdropped and attgenerated = '' order by attnum"
            ),
            {"t": table},
        )
    )


def copy_tables(source: sa.Engine, target: sa.Engine, schemas: Sequence[str] = COPIED) -> int:
    """Replace the target's rows of every table in ``schemas`` by the source's; rows copied."""
    with source.connect() as conn:
        tables = list(conn.scalars(sa.text(TABLES), {"schemas": list(schemas)}))
        columns = {t: _columns(conn, t) for t in tables}
    copied = 0
    with source.connect() as out_conn, target.begin() as in_conn:
        in_conn.execute(sa.text(f"truncate {', '.join(tables)}"))
        reader = out_conn.connection.driver_connection
        writer = in_conn.connection.driver_connection
        for table in tables:
            names = ", ".join(columns[table])
            with (
                reader.cursor() as rc,
                rc.copy(f"copy (select {names} from {table}) to stdout") as out,  # noqa: S608
                writer.cursor() as wc,
                wc.copy(f"copy {table} ({names}) from stdin") as into,
            ):
                for block in out:
                    into.write(block)
            copied += in_conn.scalar(sa.text(f"select count(*) from {table}"))  # noqa: S608
    return copied
