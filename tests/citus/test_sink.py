"""Feeds, pull views and aggregates on the cluster equal one node's, of the same rows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from tests.attacks import district_login
from tests.postgres.test_sink import PILOTS, digests

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.citus, pytest.mark.slow]
DISTRICT = "500103"
# What differs between two servers' runs of the same rows: where the feed was written and
# the signature over it (the manifest names the paths' run, never a time of writing).
UNCOMPARED = ("signature",)


def _manifest(path: Path) -> dict:
    manifest = json.loads((path / "_manifest.json").read_text(encoding="utf-8"))
    return {k: v for k, v in manifest.items() if k not in UNCOMPARED}


def test_the_cluster_merges_the_same_libraries_as_one_node(twins):
    one, many = twins.libraries
    assert sorted(one) == sorted(many) and len(one) >= 8
    for table, rows in one.items():
        assert rows == many[table], table
    assert sum(len(rows) for rows in one.values()) > 1000


def test_the_cluster_publishes_the_same_feeds_as_one_node(twins):
    single_root, cluster_root = twins.single_root, twins.cluster_root
    compared = 0
    for code in PILOTS:
        feeds = sorted(p.name for p in (single_root / "feeds" / code).iterdir())
        assert feeds == sorted(p.name for p in (cluster_root / "feeds" / code).iterdir()), code
        for feed in feeds:
            one = single_root / "feeds" / code / feed / "base"
            many = cluster_root / "feeds" / code / feed / "base"
            parts = {k: v for k, v in digests(one).items() if k.endswith(".parquet")}
            assert parts and parts == {
                k: v for k, v in digests(many).items() if k.endswith(".parquet")
            }, (code, feed)
            assert _manifest(one) == _manifest(many), (code, feed)
            compared += len(parts)
    assert compared >= 6 * len(PILOTS)


def test_a_district_login_on_the_cluster_cannot_read_the_pads_or_around_its_views(
    twins, citus_engine
):
    with citus_engine.connect() as admin:
        assert admin.scalar(sa.text("select count(*) from share_secret.consumer_key")) > 0
    with district_login(citus_engine, DISTRICT) as conn:
        for denied in (
            "select * from share_secret.consumer_key",
            "select * from library.person limit 1",
            "select * from share_500104.person",
        ):
            conn.execute(sa.text("savepoint probe"))
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text(denied)).all()
            conn.execute(sa.text("rollback to savepoint probe"))


def test_a_district_login_on_the_cluster_reads_its_rows_only(twins, citus_engine):
    with citus_engine.connect() as admin:
        expected = admin.scalar(
            sa.text("select count(*) from library.person where left(division_code, 6) = :d"),
            {"d": DISTRICT},
        )
        assert expected < admin.scalar(sa.text("select count(*) from library.person"))
    with district_login(citus_engine, DISTRICT) as conn:
        prefixes = conn.scalars(
            sa.text(f"select distinct left(division_code, 6) from share_{DISTRICT}.person")
        ).all()
        assert prefixes == [DISTRICT]
        assert conn.scalar(sa.text(f"select count(*) from share_{DISTRICT}.person")) == expected


def test_a_district_cannot_read_another_districts_rows_through_the_functions(twins, citus_engine):
    """On Citus each pull view reads through a security-definer function of its own; the
    function takes no argument (its district is fixed inside) and only its district may run
    it: another district's function, and the view of rows behind one's own, are refused."""
    other = "500104"
    with citus_engine.connect() as admin:
        function = f"share_{other}.person__rows()"
        assert (
            admin.scalar(
                sa.text("select pg_get_function_arguments(to_regprocedure(:f))"), {"f": function}
            )
            == ""
        )
        assert admin.scalar(sa.text(f"select count(*) from share_{other}.person")) > 0
    with district_login(citus_engine, DISTRICT) as conn:
        for denied in (
            f"select * from share_{other}.person__rows()",
            f"select * from share_{DISTRICT}.person__rows",
            f"select * from share_{other}.person",
        ):
            conn.execute(sa.text("savepoint probe"))
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text(denied)).all()
            conn.execute(sa.text("rollback to savepoint probe"))
        prefixes = conn.scalars(
            sa.text(f"select distinct left(division_code, 6) from share_{DISTRICT}.person__rows()")
        ).all()
        assert prefixes == [DISTRICT]


def test_the_pads_copied_to_the_workers_keep_their_grants(twins, citus_engine):
    """share_secret.consumer_key is a reference table: a copy on every worker. A district
    role (roles and grants are propagated to the workers) cannot read that copy either."""
    with citus_engine.connect() as conn:
        placements = conn.execute(
            sa.text(
                "select shard_name, nodeport from citus_shards"
                " where table_name = 'share_secret.consumer_key'::regclass"
            )
        ).all()
    assert len({port for _name, port in placements}) == 3  # coordinator and both workers
    for shard, port in placements:
        worker = sa.create_engine(citus_engine.url.set(port=port))
        try:
            with worker.connect() as conn:
                assert conn.scalar(sa.text(f"select count(*) from {shard}")) > 0  # it is there
                conn.execute(sa.text(f"set role district_{DISTRICT}"))
                with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                    conn.execute(sa.text(f"select * from {shard}")).all()
        finally:
            worker.dispose()


def test_aggregates_on_the_cluster_equal_one_nodes(twins):
    facts, cluster_facts = twins.aggregates
    assert len(facts) > 100 and cluster_facts == facts
    one = twins.single_root / "reports" / "national" / "agg-twin"
    many = twins.cluster_root / "reports" / "national" / "agg-twin"
    assert {k: v for k, v in digests(one).items() if k.endswith(".parquet")} == {
        k: v for k, v in digests(many).items() if k.endswith(".parquet")
    }
