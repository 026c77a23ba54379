"""Compact field provenance: field -> delivery id, expanded on read by library.provenance_detail.

Revision ID: 0004
Revises: 0003
"""

from importlib.resources import files

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQL = files("tierflow") / "sql" / "migrations"


def upgrade() -> None:
    op.execute((SQL / "0004_compact_provenance_up.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute((SQL / "0004_compact_provenance_down.sql").read_text(encoding="utf-8"))
