"""Merge bookkeeping: per library/dataset watermark, conflict de-duplication, lookup indexes.

Revision ID: 0002
Revises: 0001
"""

from importlib.resources import files

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQL = files("tierflow") / "sql" / "migrations"


def upgrade() -> None:
    op.execute((SQL / "0002_merge_up.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute((SQL / "0002_merge_down.sql").read_text(encoding="utf-8"))
