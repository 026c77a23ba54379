"""The three lists managed online: consumers, demands, negative list and their
append-only event trail (schema sharing).

Revision ID: 0008
Revises: 0007
"""

from importlib.resources import files

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SQL = files("tierflow") / "sql" / "migrations"


def upgrade() -> None:
    op.execute((SQL / "0008_sharing_lists_up.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute((SQL / "0008_sharing_lists_down.sql").read_text(encoding="utf-8"))
