"""Sink and aggregation: thematic tables, district boundaries, feed/audit tables, RLS pull views.

Everything here is SQL (``sql/migrations/0003_*``), the district boundaries included (the
generated stand-ins, frozen as data): a migration must not run runtime code that can change
after it was written. The pilot districts are read from the contracts (data).

Revision ID: 0003
Revises: 0002
"""

import re

from tierflow.migrate import run_sql_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _pilot_codes() -> str:
    """The pilot districts as SQL text literals (each checked to be six digits)."""
    from tierflow.contracts import load_catalog

    codes = load_catalog().divisions.pilot_codes
    for code in codes:
        if not re.fullmatch(r"\d{6}", code):
            raise ValueError(f"not a 6-digit district code: {code!r}")
    return ", ".join(f"'{code}'" for code in codes)


def upgrade() -> None:
    run_sql_file("0003_sink_up.sql")
    run_sql_file("0003_share_up.sql")
    run_sql_file("0003_district_boundaries_up.sql")
    run_sql_file("0003_district_roles_up.sql", codes=_pilot_codes())


def downgrade() -> None:
    run_sql_file("0003_district_roles_down.sql", codes=_pilot_codes())
    run_sql_file("0003_sink_down.sql")
