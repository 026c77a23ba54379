"""The three lists managed online: consumers, demands, negative list and their
append-only event trail (schema sharing).

Revision ID: 0008
Revises: 0007
"""

from tierflow.migrate import run_sql_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0008_sharing_lists_up.sql")


def downgrade() -> None:
    run_sql_file("0008_sharing_lists_down.sql")
