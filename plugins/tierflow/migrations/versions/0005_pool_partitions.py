"""Resource pools partitioned by delivery: each delivery is COPYed into a bare table whose
indexes are built once, sorted, when it is attached (tierflow.ingest.writer.DeliveryWriter).

Pools created before this revision become partitioned; their rows stay, as one partition
holding every delivery id up to the last one loaded. The layout is this revision's (without
0011's change hash column).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _indexes(conn: sa.Connection, table: str) -> list[tuple[str, str]]:
    return [
        (name, definition)
        for name, definition in conn.execute(
            sa.text(
                "select indexname, indexdef from pg_indexes"
                " where schemaname = 'pool' and tablename = :table order by indexname"
            ),
            {"table": table},
        )
    ]


def _kind(conn: sa.Connection, table: str) -> str | None:
    return conn.scalar(
        sa.text("select relkind from pg_class where oid = to_regclass(:table)"),
        {"table": f'pool."{table}"'},
    )


def _set_aside(conn: sa.Connection, table: str, suffix: str) -> tuple[str, list[str]]:
    """Rename the table and its indexes out of the way; return the new name and the index DDL."""
    from tierflow.pool import quote

    indexes = _indexes(conn, table)
    aside = f"{table}_{suffix}"
    conn.execute(sa.text(f"alter table pool.{quote(table)} rename to {quote(aside)}"))
    for name, _ in indexes:
        conn.execute(
            sa.text(f"alter index pool.{quote(name)} rename to {quote(name + '_' + suffix)}")
        )
    return aside, [definition for _, definition in indexes]


def upgrade() -> None:
    from tierflow.contracts import load_catalog
    from tierflow.pool import pool_table_ddl, quote

    conn = op.get_bind()
    for dataset in load_catalog().datasets:
        table = dataset.table_name
        if _kind(conn, table) != "r":  # already partitioned (or not created yet)
            continue
        legacy, index_ddl = _set_aside(conn, table, "legacy")
        for statement in pool_table_ddl(dataset, change_hash=False):
            conn.execute(sa.text(statement))
        for statement in index_ddl:  # indexes other migrations added (names are unique)
            conn.execute(
                sa.text(statement.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
            )
        # identifiers only, quoted; from the contracts
        last = conn.scalar(sa.text(f"select max(_delivery_id) from pool.{quote(legacy)}"))  # noqa: S608
        if last is None:
            conn.execute(sa.text(f"drop table pool.{quote(legacy)}"))
        else:
            conn.execute(
                sa.text(
                    f"alter table pool.{quote(table)} attach partition pool.{quote(legacy)}"
                    f" for values from (minvalue) to ({int(last) + 1})"
                )
            )


def downgrade() -> None:
    from tierflow.contracts import load_catalog
    from tierflow.pool import pool_table_ddl, quote

    conn = op.get_bind()
    for dataset in load_catalog().datasets:
        table = dataset.table_name
        if _kind(conn, table) != "p":
            continue
        partitioned, index_ddl = _set_aside(conn, table, "partitioned")
        for statement in pool_table_ddl(dataset, partitioned=False, change_hash=False):
            conn.execute(sa.text(statement))
        for statement in index_ddl:
            statement = statement.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
            conn.execute(sa.text(statement.replace(" ONLY ", " ", 1)))
        conn.execute(
            sa.text(f"insert into pool.{quote(table)} select * from pool.{quote(partitioned)}")  # noqa: S608
        )
        conn.execute(sa.text(f"drop table pool.{quote(partitioned)} cascade"))
