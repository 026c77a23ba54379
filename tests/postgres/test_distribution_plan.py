"""The distribution plan covers the warehouse, and does nothing on plain PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tierflow import db, distribution
from tierflow.contracts import catalog

pytestmark = pytest.mark.postgres


def test_every_warehouse_table_has_a_placement_and_plain_postgres_gets_none(warehouse):
    with warehouse.begin() as conn:
        assert distribution.unplanned(conn) == []
        assert not db.is_citus(conn)
        assert distribution.apply(conn) == []
        assert not distribution.is_placed(conn, "library.person")


def test_every_pool_is_distributed_by_a_column_of_its_contract():
    pools = {p.table: p for p in distribution.plan() if p.table.startswith("pool.")}
    for dataset in catalog().datasets:
        placement = pools[f"pool.{dataset.table_name}"]
        assert isinstance(placement, distribution.Distributed)
        assert placement.column in {c.name for c in dataset.columns}


def test_a_table_the_plan_forgets_is_named(warehouse):
    with warehouse.begin() as conn:
        conn.execute(sa.text("create table quality.forgotten (id int)"))
        assert distribution.unplanned(conn) == ["quality.forgotten"]
        conn.execute(sa.text("drop table quality.forgotten"))
