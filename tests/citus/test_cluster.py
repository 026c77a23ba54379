"""The warehouse on a real local Citus cluster: placement, migrations, ingest, merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.citus.conftest import SHARDS, tierflow
from tierflow import distribution, migrate
from tierflow.distribution import Distributed, Reference

pytestmark = [pytest.mark.citus, pytest.mark.slow]

PLACEMENTS = """
select table_name::text, citus_table_type, distribution_column, colocation_id
from citus_tables
"""


def _placements(engine: sa.Engine) -> dict[str, tuple[str, str, int]]:
    with engine.connect() as conn:
        return {
            name: (kind, column, group)
            for name, kind, column, group in conn.execute(sa.text(PLACEMENTS))
        }


def test_cluster_up_again_changes_nothing_and_status_counts_shards_per_node(
    citus_url, citus_engine, cluster_env
):
    again = tierflow("cluster", "up", "--json", env=cluster_env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"url": citus_url}
    status = tierflow("cluster", "status", "--json", env=cluster_env)
    assert status.returncode == 0, status.stderr
    result = json.loads(status.stdout)
    assert result["running"] and result["url"] == citus_url and result["shard_count"] == SHARDS
    roles = [node["role"] for node in result["nodes"]]
    assert roles == ["coordinator", "worker", "worker"]
    workers = [node for node in result["nodes"] if node["role"] == "worker"]
    # 27 distributed tables of SHARDS shards each, spread over both workers; reference tables
    # have a placement on every node
    assert all(node["shards"] > 20 for node in workers)
    assert sum(node["shards"] for node in workers) >= 27 * SHARDS
    wrong = tierflow("cluster", "up", "--workers", "3", env=cluster_env)
    assert wrong.returncode == 2 and "cluster down" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_migrations_go_down_and_up_on_the_cluster_and_place_every_planned_table(citus_engine):
    assert migrate.downgrade("0004", eng=citus_engine) == "0004"
    assert migrate.upgrade(eng=citus_engine) == migrate.head()
    assert migrate.downgrade(eng=citus_engine) is None
    assert not _placements(citus_engine)
    assert migrate.upgrade(eng=citus_engine) == migrate.head()
    assert migrate.upgrade(eng=citus_engine) == migrate.head()  # idempotent

    placed = _placements(citus_engine)
    anchor_group = placed[distribution.ANCHOR][2]
    for placement in distribution.plan():
        kind, column, group = placed[placement.table]
        if isinstance(placement, Reference):
            assert kind == "reference", placement.table
        else:
            assert isinstance(placement, Distributed)
            assert (kind, column) == ("distributed", placement.column), placement.table
            if placement.colocate_with == distribution.ANCHOR:
                assert group == anchor_group, placement.table
    assert placed["library.e_license"][1] == placed["pool.lic_issuance"][1] == "license_number"
    assert placed["quality.quarantine"][2] == placed["quality.superseded"][2] != anchor_group
    with citus_engine.connect() as conn:
        assert distribution.unplanned(conn) == []


def test_a_generated_delivery_is_copied_into_a_distributed_pool_partition(on_citus, tmp_path):
    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file

    summary = generate(out=tmp_path / "gen", scale=2000, seed=11, datasets=["psb.household"])
    path = Path(summary["files"][0]["path"])
    result = ingest_file(path, "psb.household", run_gx=False)
    assert result["rows_accepted"] == 2000
    partition = f"pool.psb_household_d{result['delivery_id']}"
    engine = sa.create_engine(on_citus)
    try:
        placed = _placements(engine)
        assert placed[partition][:2] == ("distributed", "id_number")
        assert placed[partition][2] == placed["pool.psb_household"][2]
        with engine.connect() as conn:
            per_node = conn.execute(
                sa.text(
                    "select shards.nodeport, sum(cast(counts.result as bigint))"
                    " from run_command_on_shards(:t, 'select count(*) from %s') as counts"
                    " join citus_shards as shards on shards.shardid = counts.shardid"
                    " group by shards.nodeport"
                ),
                {"t": partition},
            ).all()
            in_pool = conn.scalar(
                sa.text("select count(*) from pool.psb_household where _delivery_id = :d"),
                {"d": result["delivery_id"]},
            )
    finally:
        engine.dispose()
    assert len(per_node) == 2 and all(rows > 0 for _, rows in per_node)  # both workers
    assert sum(rows for _, rows in per_node) == in_pool == 2000


def _ingest_all(tmp_path: Path, datasets: list[str]) -> None:
    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file

    summary = generate(out=tmp_path / "gen", scale=1000, seed=12, datasets=datasets)
    for written in summary["files"]:
        ingest_file(Path(written["path"]), written["dataset"], run_gx=False)


def test_the_geospatial_merge_runs_on_the_cluster(on_citus, tmp_path):
    from tierflow.merge.run import merge_library

    _ingest_all(tmp_path, ["mnr.land_parcel", "mnr.address"])
    result = merge_library("geospatial")
    assert result["inserted"] == result["library_rows"] > 0
    again = merge_library("geospatial")
    assert again["inserted"] == again["updated"] == 0


def test_the_person_merge_runs_on_the_cluster(on_citus, tmp_path):
    from tierflow.merge.run import merge_library

    _ingest_all(tmp_path, ["psb.household"])
    result = merge_library("person")
    assert result["inserted"] == result["library_rows"] > 0
