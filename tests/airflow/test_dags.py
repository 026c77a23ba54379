"""DAG integrity (import errors, parse-time hygiene), the topology snapshot, and dag.test() runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGS = PROJECT_ROOT / "dags"
SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "dag_topology.txt"
HEAVY = ("pandas", "pyarrow", "great_expectations", "psycopg", "shapely", "numpy")


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.mark.unit
def test_dags_import_without_errors_and_cover_every_contract():
    from tierflow.contracts import catalog

    bag = _dagbag()
    assert bag.import_errors == {}
    ingest_ids = {d for d in bag.dag_ids if d.startswith("ingest__")}
    assert ingest_ids == {f"ingest__{d.table_name}" for d in catalog().datasets}
    for dag_id in ingest_ids:
        dag = bag.dags[dag_id]
        assert "ingest" in dag.tags and any(t.startswith("department:") for t in dag.tags)
        assert dag.doc_md and "expectations/" in dag.doc_md


@pytest.mark.unit
@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_dag_files_parse_fast_and_import_nothing_heavy(dag_file):
    probe = (
        "import importlib.util, json, sys, time\n"
        "t = time.perf_counter()\n"
        f"spec = importlib.util.spec_from_file_location('probe', {str(DAGS / dag_file)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"print(json.dumps({{'seconds': time.perf_counter() - t, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"{dag_file} imports {result['heavy']} at parse time"
    assert result["seconds"] < 15, (
        f"{dag_file} took {result['seconds']:.1f}s to parse (Airflow itself included)"
    )


def _schedule(dag) -> str:
    timetable = dag.timetable
    if getattr(timetable, "expression", None):
        keyed = getattr(timetable, "key_format", None)  # CronPartitionTimetable
        partitions = f" partitions {keyed}" if keyed else ""
        return f"cron {timetable.expression} {timetable.timezone}{partitions}"
    condition = getattr(timetable, "asset_condition", None)
    if condition is not None:
        inner = getattr(timetable, "timetable", None)  # AssetOrTimeSchedule: a time, or assets
        when = f"cron {inner.expression} {inner.timezone} or " if inner is not None else ""
        mapper = getattr(timetable, "default_partition_mapper", None)
        keyed = f" partitions {_mapper(mapper)}" if mapper else ""
        return f"{when}assets " + _condition(condition) + keyed
    return type(timetable).__name__


def _mapper(mapper) -> str:
    """A partition mapper as text: FixedKeyMapper(all), RollupMapper(FixedKeyMapper(city), …)."""
    name = type(mapper).__name__
    if hasattr(mapper, "window"):
        window = getattr(mapper.window, "_segments", ())  # SegmentWindow (the SDK has no getter)
        return f"{name}({_mapper(mapper.upstream_mapper)}, {len(window)} segments, {mapper.wait_policy!r})"
    if hasattr(mapper, "downstream_key"):
        return f"{name}({mapper.downstream_key})"
    return name


def _condition(condition) -> str:
    """AssetAny/AssetAll trees as readable text: (a | b), (a & b)."""
    if hasattr(condition, "objects"):
        joiner = " | " if type(condition).__name__ == "AssetAny" else " & "
        return "(" + joiner.join(sorted(_condition(o) for o in condition.objects)) + ")"
    return getattr(condition, "name", str(condition))


def topology() -> str:
    """A readable description of every DAG: schedule, tags, tasks, their upstreams and assets."""
    bag = _dagbag()
    lines: list[str] = []
    for dag_id in sorted(bag.dag_ids):
        dag = bag.dags[dag_id]
        lines.append(f"{dag_id}")
        lines.append(f"  schedule: {_schedule(dag)}")
        lines.append(f"  tags: {', '.join(sorted(dag.tags))}")
        for task in sorted(dag.tasks, key=lambda t: t.task_id):
            upstream = ", ".join(sorted(task.upstream_task_ids)) or "-"
            outlets = ", ".join(sorted(getattr(o, "name", str(o)) for o in task.outlets)) or "-"
            lines.append(f"  task {task.task_id} <- [{upstream}] outlets: {outlets}")
    return "\n".join(lines) + "\n"


@pytest.mark.unit
def test_dag_topology_matches_the_snapshot():
    current = topology()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(current, encoding="utf-8")
    assert current == SNAPSHOT.read_text(encoding="utf-8"), (
        "DAG topology changed; review the diff and run UPDATE_SNAPSHOTS=1 pytest tests/airflow/test_dags.py"
    )


@pytest.mark.airflow
@pytest.mark.postgres
@pytest.mark.slow
def test_ingest_dag_runs_end_to_end_under_dag_test(airflow_db, warehouse, data_root, tmp_path):
    import sqlalchemy as sa

    from tierflow.generate import generate

    generate(out=data_root, scale=400, seed=11, defect_rate=0.05, datasets=["samr.enterprise"])
    bag = _dagbag()
    dag = bag.dags["ingest__samr_enterprise"]
    started = time.perf_counter()
    run = dag.test()
    assert run.state == "success", f"dag.test() ended {run.state}"
    with warehouse.connect() as conn:
        delivery = (
            conn.execute(
                sa.text(
                    "select * from quality.delivery where dataset = 'samr.enterprise'"
                    " and file_path like :home order by delivery_id desc limit 1"
                ),
                {"home": f"{data_root}/%"},
            )
            .mappings()
            .one()
        )
        pool_rows = conn.scalar(
            sa.text("select count(*) from pool.samr_enterprise where _delivery_id = :d"),
            {"d": delivery["delivery_id"]},
        )
    assert delivery["status"] == "loaded"
    assert delivery["rows_in"] == delivery["rows_accepted"] + delivery["rows_quarantined"]
    assert delivery["rows_quarantined"] > 0
    assert pool_rows == delivery["rows_accepted"] - delivery["rows_superseded"]
    # the gx_report task after ingest wrote the delivery's GX result and Data Docs
    assert delivery["gx_status"] == "done" and delivery["gx_scope"] == "full"
    assert delivery["gx_success"] is False  # rows were quarantined: GX saw them fail
    assert (data_root / "docs" / "data_docs" / "index.html").is_file()
    run_name = f"samr.enterprise-d{delivery['delivery_id']}"
    results = data_root / "docs" / "gx"
    assert list(results.glob(f"*/validations/tierflow/samr/enterprise/{run_name}/*/*.json"))
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        event = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "pool.samr_enterprise")
            .order_by(AssetEvent.id.desc())
            .first()
        )
    assert event is not None and event.extra["rows_in"] == delivery["rows_in"]
    print(f"dag.test() of ingest__samr_enterprise: {time.perf_counter() - started:.1f}s")
    # retrying the ingest task on the same files is a no-op: the content hash is already loaded
    from tierflow.tasks import ingest_deliveries, pending_deliveries

    assert pending_deliveries("samr.enterprise") == []
    again = ingest_deliveries("samr.enterprise", [delivery["file_path"]])
    assert again["deliveries"] == [delivery["delivery_id"]]
    with warehouse.connect() as conn:
        loaded = (
            "select count(*) from quality.delivery where file_sha256 = :sha and status = 'loaded'"
        )
        assert conn.scalar(sa.text(loaded), {"sha": delivery["file_sha256"]}) == 1
        pool_now = "select count(*) from pool.samr_enterprise where _delivery_id = :d"
        assert conn.scalar(sa.text(pool_now), {"d": delivery["delivery_id"]}) == pool_rows
