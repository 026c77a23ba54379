"""Each pool row carries its change hash (``_change_hash bigint``, computed at ingest in Arrow).

Revision ID: 0012
Revises: 0011 (written as 0011 on 0009; renumbered when main's 0010 and 0011 were merged in:
it neither reads nor writes what they change)

Ingest computes the hash of every accepted row over its data columns
(``tierflow.ingest.change_hash``); the merge drops touched keys whose sources' newest rows kept
their hash. Rows ingested before this revision get NULL: unknown, which the merge treats as
changed, so they are recomputed exactly as before (once; the next delivery of such a key
compares against a hashed row). Computing the Arrow hash in SQL would need 64-bit wrapping
arithmetic PostgreSQL's bigint refuses (it raises on overflow), so no row is back-filled.
Adding a nullable column without a default only changes the catalog: no row is rewritten. The
column goes last, as the pool rule (``tierflow.pool``) creates it in pools made since.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMN = "_change_hash"  # frozen here: the name the pool rule used when this was written


def _pools() -> list[str]:
    from tierflow.contracts import load_catalog
    from tierflow.pool import quote

    conn = op.get_bind()
    tables = []
    for dataset in load_catalog().datasets:
        name = f"pool.{quote(dataset.table_name)}"
        if conn.scalar(sa.text("select to_regclass(:name)"), {"name": name}) is not None:
            tables.append(name)
    return tables


def upgrade() -> None:
    # On a partitioned pool the column reaches every delivery's partition (and on Citus, the
    # shards) with the one statement.
    for table in _pools():
        op.execute(f'alter table {table} add column if not exists "{COLUMN}" bigint')


def downgrade() -> None:
    for table in _pools():
        op.execute(f'alter table {table} drop column if exists "{COLUMN}"')
