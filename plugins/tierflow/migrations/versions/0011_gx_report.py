"""A delivery's GX report is its own step after the load: the ledger says pending or done.

Revision ID: 0011
Revises: 0010

Ingest no longer runs Great Expectations inside the load (its import alone cost ~2.4 s of
CPU, more than a small delivery's whole load); the rows are gated by the vectorised checks,
and GX validation + Data Docs run afterwards (``tierflow quality validate``, the ingest DAG's
``gx_report`` task). ``gx_status`` is ``pending`` from the load's commit until the report is
written, then ``done`` with GX's own verdict (``gx_success``) and when (``gx_validated_at``);
null for a delivery loaded without a report (``--no-gx``). Deliveries validated inside the
load before this revision (``gx_scope`` set) count as done.
"""

from tierflow.migrate import run_sql_file

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0011_gx_report_up.sql")


def downgrade() -> None:
    run_sql_file("0011_gx_report_down.sql")
