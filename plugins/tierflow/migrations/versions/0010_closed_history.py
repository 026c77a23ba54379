"""The histories hold closed versions only: a record's current version is its library row.

Revision ID: 0010
Revises: 0009

Until now every record's current version was written twice, as the library row and as the
open version (``valid_to is null``) of ``library.<table>_history``, and a change wrote three
times (update the library row, close the open version, insert the new one). The library row
is that version (valid from its ``changed_at``), so the history keeps the closed ones only and
a change is two writes: its old row into the history, closed, and its library row updated in
place (HOT). The sink reads a table's versions as its history and its library rows together.
Up checks each open version against its library row and deletes it; down writes them back
from the library. SQL in ``sql/migrations/0010_closed_history_*.sql``.
"""

from tierflow.migrate import run_sql_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0010_closed_history_up.sql")


def downgrade() -> None:
    run_sql_file("0010_closed_history_down.sql")
