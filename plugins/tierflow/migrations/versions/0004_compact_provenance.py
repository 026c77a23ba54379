"""Compact field provenance: field -> delivery id, expanded on read by library.provenance_detail.

Revision ID: 0004
Revises: 0003
"""

from tierflow.migrate import run_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0004_compact_provenance_up.sql")


def downgrade() -> None:
    run_sql_file("0004_compact_provenance_down.sql")
