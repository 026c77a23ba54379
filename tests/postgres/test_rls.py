"""Pull interface: a role per pilot district reads the views of its own schema, of its own
rows only (explicit filter, and row-level security as a second wall).

Connects as a login role made for the test, which may only ``SET ROLE`` to one district
role, and tries crafted SQL against the views and the tables behind them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from tests.attacks import district_login
from tests.postgres.test_sink import chain  # noqa: F401 - the shared chain fixture

if TYPE_CHECKING:
    from collections.abc import Iterator

VIEWS = ("person", "legal_entity", "e_license", "address", "service_case", "truck_gps")
SCHEMA = "share_500103"


@pytest.fixture()
def district_session(chain) -> Iterator[sa.Connection]:  # noqa: F811
    engine, _root = chain
    with district_login(engine, "500103") as conn:
        yield conn


def _denied(conn: sa.Connection, sql: str) -> bool:
    conn.execute(sa.text("savepoint probe"))
    try:
        conn.execute(sa.text(sql)).all()
    except sa.exc.DBAPIError:
        conn.execute(sa.text("rollback to savepoint probe"))
        return True
    conn.execute(sa.text("release savepoint probe"))
    return False


@pytest.mark.postgres
@pytest.mark.slow
def test_the_district_role_sees_only_its_own_rows(chain, district_session):  # noqa: F811
    engine, _root = chain
    conn = district_session
    assert conn.scalar(sa.text("select current_user")) == "district_500103"
    with engine.connect() as admin:
        expected = {
            "person": admin.scalar(
                sa.text(
                    "select count(*) from library.person where left(division_code, 6) = '500103'"
                )
            ),
            "truck_gps": admin.scalar(
                sa.text("select count(*) from thematic.truck_gps where district_code = '500103'")
            ),
            "service_case": admin.scalar(
                sa.text(
                    "select count(*) from thematic.service_case where left(division_code, 6) = '500103'"
                )
            ),
        }
        total_persons = admin.scalar(sa.text("select count(*) from library.person"))
    assert expected["person"] < total_persons
    for view in VIEWS:
        if view == "truck_gps":
            continue  # its feed carries no district column: the count below is the check
        prefixes = (
            conn.execute(sa.text(f"select distinct left(division_code, 6) from {SCHEMA}.{view}"))
            .scalars()
            .all()
        )
        assert set(prefixes) <= {"500103"}, view
    for view, count in expected.items():
        assert conn.scalar(sa.text(f"select count(*) from {SCHEMA}.{view}")) == count > 0
    # crafted SQL: asking for other districts' rows returns nothing
    assert (
        conn.scalar(
            sa.text(f"select count(*) from {SCHEMA}.person where division_code like '500104%'")
        )
        == 0
    )
    assert (
        conn.scalar(
            sa.text(f"select count(*) from {SCHEMA}.person where true or division_code <> '500103'")
        )
        == expected["person"]
    )


@pytest.mark.postgres
@pytest.mark.slow
def test_the_district_role_cannot_reach_around_the_views(district_session):
    conn = district_session
    for sql in (
        "select * from library.person limit 1",  # the base tables are not granted
        f"select ethnicity from {SCHEMA}.person",  # negative-list fields are not in the views
        f"select phone from {SCHEMA}.person",
        "select * from share_500104.person",  # another district's schema
        "select * from share_secret.consumer_key",  # the views' pseudonym keys
        "select * from feed.consumer",
        "select * from quality.delivery",
        "set role district_500104",  # not a member of another district's role
        f"update {SCHEMA}.person set name = 'x'",
        f"create view {SCHEMA}.leak as select * from library.person",
        "create view share.leak as select * from library.person",
        "select * from thematic.truck_gps_default",
        "select share.clearance_of('500104')",  # the clearance helpers are gone
        "select share.current_clearance()",
    ):
        assert _denied(conn, sql), sql
    # policies use the current role's name: as the login role itself no row matches
    conn.execute(sa.text("reset role"))
    assert conn.scalar(sa.text(f"select count(*) from {SCHEMA}.person")) == 0
    conn.execute(sa.text("set role district_500103"))
    pseudonymised = conn.execute(sa.text(f"select id_number from {SCHEMA}.person limit 5")).all()
    assert pseudonymised and all(re.fullmatch(r"[0-9a-f]{64}", r.id_number) for r in pseudonymised)


@pytest.mark.postgres
def test_downgrade_removes_the_sink_objects_and_upgrade_restores_them(tmp_path):
    from tests.conftest import create_database, drop_database
    from tierflow import migrate

    name, engine = create_database("tierflow_rls_migrate")
    try:
        migrate.upgrade(eng=engine)
        migrate.downgrade("0002", eng=engine)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("select to_regclass('thematic.truck_gps')")) is None
            assert conn.scalar(sa.text("select to_regnamespace('share')")) is None
            assert (
                conn.scalar(
                    sa.text(
                        "select relrowsecurity from pg_class where oid = 'library.person'::regclass"
                    )
                )
                is False
            )
        migrate.upgrade(eng=engine)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("select count(*) from library.district_boundary")) == 41
            roles = conn.scalar(
                sa.text("select count(*) from pg_roles where rolname like 'district_5001%'")
            )
            assert roles >= 24
    finally:
        engine.dispose()
        drop_database(name)
