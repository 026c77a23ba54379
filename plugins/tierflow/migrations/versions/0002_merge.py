"""Merge bookkeeping: per library/dataset watermark, conflict de-duplication, lookup indexes.

Revision ID: 0002
Revises: 0001
"""

from tierflow.migrate import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0002_merge_up.sql")


def downgrade() -> None:
    run_sql_file("0002_merge_down.sql")
