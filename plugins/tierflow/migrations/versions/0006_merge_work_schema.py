"""Schema merge_work: the merge's intermediate tables (unlogged, created and dropped inside one
merge transaction), so PostgreSQL can read them with parallel workers, which it cannot do
for temporary tables.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create schema if not exists merge_work")
    op.execute(
        "comment on schema merge_work is"
        " 'Intermediate tables of a running merge; empty whenever no merge is running.'"
    )


def downgrade() -> None:
    op.execute("drop schema if exists merge_work cascade")
