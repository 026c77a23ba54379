"""Warehouse schemas and tables of design §9, pool tables from the contracts.

Revision ID: 0001
Revises:
"""

from alembic import op

from tierflow.migrate import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from tierflow.contracts import load_catalog
    from tierflow.divisions import load_reference
    from tierflow.pool import ensure_pool_table

    run_sql_file("0001_warehouse_up.sql")
    catalog = load_catalog()
    conn = op.get_bind()
    for dataset in catalog.datasets:
        # the pools as they were then: 0012 adds the change hash column
        ensure_pool_table(conn, dataset, change_hash=False)
    load_reference(conn, catalog.divisions)


def downgrade() -> None:
    run_sql_file("0001_warehouse_down.sql")
