"""Sink and aggregation: thematic tables, district boundaries, feed/audit tables, RLS pull views.

Revision ID: 0003
Revises: 0002
"""

from importlib.resources import files

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQL = files("tierflow") / "sql" / "migrations"


def upgrade() -> None:
    from tierflow.contracts import load_catalog
    from tierflow.sink.geofence import store_boundaries
    from tierflow.sink.share import ensure_district_roles

    op.execute((SQL / "0003_sink_up.sql").read_text(encoding="utf-8"))
    op.execute((SQL / "0003_share_up.sql").read_text(encoding="utf-8"))
    conn = op.get_bind()
    catalog = load_catalog()
    store_boundaries(conn, catalog.divisions)
    ensure_district_roles(conn, catalog.divisions.pilot_codes)


def downgrade() -> None:
    from tierflow.contracts import load_catalog
    from tierflow.sink.share import drop_district_roles

    conn = op.get_bind()
    drop_district_roles(conn, load_catalog().divisions.pilot_codes)
    op.execute((SQL / "0003_sink_down.sql").read_text(encoding="utf-8"))
