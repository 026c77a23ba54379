"""Warehouse schemas and tables of design §9, pool tables from the contracts.

Revision ID: 0001
Revises:
"""

from importlib.resources import files

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SQL = files("tierflow") / "sql" / "migrations"


def upgrade() -> None:
    from tierflow.contracts import load_catalog
    from tierflow.divisions import load_reference
    from tierflow.pool import ensure_pool_table

    op.execute((SQL / "0001_warehouse_up.sql").read_text(encoding="utf-8"))
    catalog = load_catalog()
    conn = op.get_bind()
    for dataset in catalog.datasets:
        ensure_pool_table(conn, dataset)
    load_reference(conn, catalog.divisions)


def downgrade() -> None:
    op.execute((SQL / "0001_warehouse_down.sql").read_text(encoding="utf-8"))
