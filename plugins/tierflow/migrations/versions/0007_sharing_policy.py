"""Sharing policy: pull views generated per district, pseudonym key pads, purge notices;
rejected deliveries in the responsibility audit.

Revision ID: 0007
Revises: 0006
"""

from importlib.resources import files

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SQL = files("tierflow") / "sql" / "migrations"


def upgrade() -> None:
    op.execute((SQL / "0007_sharing_policy_up.sql").read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute((SQL / "0007_sharing_policy_down.sql").read_text(encoding="utf-8"))
