"""Library tables and their histories leave room on each page, so a merge's updates stay HOT.

Revision ID: 0009
Revises: 0008

A daily increment changes ~10% of the records, spread over nearly every page. With full pages
(fillfactor 100) each changed record's new version went to another page, with a new entry in
every index of its table: at 2M persons and 200k changes, updating library.person took 15.6 s
and closing the history versions 13.6 s (the history's three indexes), 284 of 196,043 updates
HOT. With 20% of each page free, the new version stays on its page and no index is touched
(valid_to and the golden fields a change touches are in no index): 6.5 s and 9.1 s, 99% HOT.
The room costs a quarter more pages on a full scan. Existing rows are rewritten (CLUSTER, in
key order) so their pages get the room too; new rows and the history's appended versions get
it as they are written. (0008 is left to a colleague's branch.)
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def is_placed(conn: sa.Connection, name: str) -> bool:
    """The table's rows live on Citus workers (distributed or reference); frozen here, as a
    migration must not call runtime code that may change after it was written."""
    if conn.scalar(sa.text("select to_regclass('pg_catalog.pg_dist_partition')")) is None:
        return False
    return bool(
        conn.scalar(
            sa.text(
                "select exists (select from pg_dist_partition where logicalrelid ="
                " to_regclass(:t) and (partmethod = 'h' or repmodel = 't'))"
            ),
            {"t": name},
        )
    )


FILLFACTOR = 80
TABLES = ("person", "legal_entity", "land_parcel", "address", "e_license")

# The index to rewrite each table in: the library's primary key, the history's (key, valid_from).
KEY_INDEX = """
select quote_ident(index_class.relname)
from pg_index as ix
join pg_class as index_class on index_class.oid = ix.indexrelid
where ix.indrelid = cast(:table_name as regclass)
order by ix.indisprimary desc,
    pg_get_indexdef(ix.indexrelid) like '%valid_from)' desc,
    index_class.relname
limit 1
"""


def _rewrite(table: str, fillfactor: int | None) -> None:
    conn = op.get_bind()
    for name in (f"library.{table}", f"library.{table}_history"):
        if fillfactor is None:
            op.execute(f"alter table {name} reset (fillfactor)")
            continue
        op.execute(f"alter table {name} set (fillfactor = {fillfactor})")
        if is_placed(conn, name):
            # Citus neither clusters shards nor forwards SET WITHOUT CLUSTER: its rows keep
            # their layout, new and changed rows get the room (as after a downgrade here).
            continue
        index = conn.scalar(sa.text(KEY_INDEX), {"table_name": name})
        if index is not None:
            op.execute(f"cluster {name} using {index}")
            op.execute(f"alter table {name} set without cluster")
        op.execute(f"analyze {name}")


def upgrade() -> None:
    for table in TABLES:
        _rewrite(table, FILLFACTOR)


def downgrade() -> None:
    # Rows written before stay where they are: the room is only a layout, not data.
    for table in TABLES:
        _rewrite(table, None)
