"""The merge on the cluster: every heavy statement runs on the shards, a killed merge leaves
the library as it was.

What "pulls full rows through the coordinator" means here, read from each statement's
``EXPLAIN`` (taken just before the merge runs it, in its transaction): a heavy statement
(one filling a merge work table or writing a library table or its history) must be one
``Custom Scan (Citus Adaptive)`` of one task per shard, with no ``Distributed Subplan`` (a
subquery computed first and its rows shipped to every task through the coordinator), no
``INSERT/SELECT method: pull to coordinator`` and no repartition. The one exception is the
work table of an orphan check's references, filled by ``repartition`` on purpose: three
narrow columns move between the workers once (never through the coordinator) so that the
check against the target library is a join on one shard. Statements writing quality tables
(conflicts, orphan flags) go to reference tables through the coordinator by nature and
carry only those findings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.citus.test_failures import _cli
from tests.postgres.test_reliability_merge import LIBRARY_STATE

pytestmark = [pytest.mark.citus, pytest.mark.slow]

LIBRARIES = ("person", "legal_entity", "geospatial", "e_license")
DATASETS = [
    "psb.household",
    "hrss.social_insurance",
    "samr.enterprise",
    "lic.issuance",
    "mnr.address",
    "mnr.land_parcel",
]
HEAVY = re.compile(r"^(insert into|update) (merge_work|library)\.(\"?\w+\"?)")
THROUGH_COORDINATOR = ("Distributed Subplan", "pull to coordinator", "repartition")


def _ingest(tmp_path: Path, seed: int, datasets: list[str], scale: int = 600) -> None:
    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file

    summary = generate(out=tmp_path / f"gen{seed}", scale=scale, seed=seed, datasets=datasets)
    for written in summary["files"]:
        ingest_file(Path(written["path"]), written["dataset"], run_gx=False)


def _body(statement: str) -> str:
    return "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()


def test_the_merges_heavy_statements_run_as_one_task_per_shard(on_citus, tmp_path):
    from tierflow.merge.run import merge_library

    _ingest(tmp_path, 21, DATASETS)
    engine = sa.create_engine(on_citus)
    plans: list[tuple[str, str]] = []

    @sa.event.listens_for(engine, "begin")
    def _no_local_execution(conn):
        # EXPLAIN between the merge's statements must not switch Citus's local execution of
        # reference-table reads mid-transaction (it refuses to); the plans are the same.
        conn.exec_driver_sql("set local citus.enable_local_execution to off")

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _explain(conn, cursor, statement, parameters, context, executemany):
        target = HEAVY.match(_body(statement))
        if target:
            # values inlined: Citus plans a repartitioned INSERT ... SELECT only with them
            with psycopg.ClientCursor(cursor.connection) as explain:
                explain.execute("explain " + explain.mogrify(statement, parameters))
                plans.append((target.group(0), "\n".join(r[0] for r in explain.fetchall())))

    try:
        for library in LIBRARIES:
            assert merge_library(library, eng=engine)["touched"] > 0, library
    finally:
        engine.dispose()
    assert len(plans) >= 4 * 9
    references = 0
    for target, plan in plans:
        if target.startswith('insert into merge_work."refs_'):
            references += 1
            assert "INSERT/SELECT method: repartition" in plan, (target, plan)
            assert "Distributed Subplan" not in plan and "pull to coordinator" not in plan
            continue
        assert plan.startswith("Custom Scan (Citus Adaptive)"), (target, plan)
        assert "Task Count: " in plan, (target, plan)
        assert not [word for word in THROUGH_COORDINATOR if word in plan], (target, plan)
    assert references == 3  # legal representatives, licence holders (persons, entities)


def _state(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text(LIBRARY_STATE))
    finally:
        engine.dispose()


@pytest.mark.parametrize("point", ["merge.after_golden", "merge.after_upsert"])
def test_a_merge_killed_on_the_cluster_leaves_the_library_as_it_was(point, on_citus, tmp_path):
    _ingest(tmp_path, 400 + sum(map(ord, point)), ["psb.household"], scale=800)
    before = _state(on_citus)
    killed = _cli(
        "merge",
        "--library",
        "person",
        "--json",
        url=on_citus,
        home=tmp_path,
        TIERFLOW_KILL_AT=point,
    )
    assert killed.returncode == -9, killed.stderr
    assert _state(on_citus) == before, f"a merge killed at {point} left a partial library"
    rerun = _cli("merge", "--library", "person", "--json", url=on_citus, home=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["inserted"] > 0 and _state(on_citus) != before
