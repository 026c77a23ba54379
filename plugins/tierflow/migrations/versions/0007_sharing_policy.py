"""Sharing policy: pull views generated per district, pseudonym key pads, purge notices;
rejected deliveries in the responsibility audit.

Revision ID: 0007
Revises: 0006
"""

from tierflow.migrate import run_sql_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0007_sharing_policy_up.sql")


def downgrade() -> None:
    run_sql_file("0007_sharing_policy_down.sql")
