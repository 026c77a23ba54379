"""The merge keeps each library table's record count instead of counting the table.

Revision ID: 0013
Revises: 0012

Every merge reported ``library_rows`` by ``count(*)`` of the whole library table: a sequential
scan whose cost follows the library, not the delivery (12.5 s of a 55 s increment into a
20M-person library, measured). A merge never deletes a record, so the count after a merge is
the count before plus the records it inserted; ``library.record_count`` keeps it, in the
merge's own transaction. The table starts empty: a library table without a row is counted
once by its next merge (``tierflow.merge.record_count``), so no count is taken here.
"""

from tierflow.migrate import run_sql_file

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0013_library_record_count_up.sql")


def downgrade() -> None:
    run_sql_file("0013_library_record_count_down.sql")
