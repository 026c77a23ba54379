"""Sink and aggregation: thematic tables, district boundaries, feed/audit tables, RLS pull views.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from tierflow.migrate import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from tierflow.contracts import load_catalog
    from tierflow.sink.geofence import store_boundaries
    from tierflow.sink.share import ensure_district_roles

    run_sql_file("0003_sink_up.sql")
    run_sql_file("0003_share_up.sql")
    conn = op.get_bind()
    catalog = load_catalog()
    store_boundaries(conn, catalog.divisions)
    ensure_district_roles(conn, catalog.divisions.pilot_codes)


def downgrade() -> None:
    from tierflow.contracts import load_catalog
    from tierflow.sink.share import drop_district_roles

    conn = op.get_bind()
    drop_district_roles(conn, load_catalog().divisions.pilot_codes)
    run_sql_file("0003_sink_down.sql")
