"""Sink, aggregate and audit DAGs: wiring (tags, asset schedules, mapping, callback) and a dag.test() run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.airflow.test_dags import _dagbag
from tests.conftest import SIGNING_KEY
from tierflow.contracts import catalog

LIBRARY_ASSETS = {f"library.{n}" for n in ("person", "legal_entity", "geospatial", "e_license")}


def _asset_names(dag) -> set[str]:
    condition = dag.timetable.asset_condition
    return {getattr(o, "name", None) for o in getattr(condition, "objects", [condition])}


@pytest.mark.unit
def test_sink_dag_runs_on_the_library_assets_with_one_mapped_task_per_district():
    bag = _dagbag()
    dag = bag.dags["sink__districts"]
    assert "sink" in dag.tags
    assert LIBRARY_ASSETS <= _asset_names(dag)
    mapped = dag.get_task("sink_district")
    assert (
        mapped.is_mapped
        if hasattr(mapped, "is_mapped")
        else type(mapped).__name__ == "MappedOperator"
    )
    assert dag.get_task("pilot_districts").task_id in mapped.upstream_task_ids


@pytest.mark.unit
def test_aggregate_and_audit_dags_are_tagged_and_the_check_raises_the_alert_callback():
    bag = _dagbag()
    aggregate = bag.dags["aggregate__tiers"]
    # the districts' feed partitions, rolled up into one `city` run under schemas/partitions.yaml
    assert "aggregate" in aggregate.tags and _asset_names(aggregate) == {"feeds"}
    rollup = aggregate.timetable.default_partition_mapper
    assert rollup.upstream_mapper.downstream_key == "city"
    assert sorted(rollup.window._segments) == sorted(catalog().divisions.pilot_codes)
    assert type(rollup.wait_policy).__name__ == "WaitForAll"
    audit = bag.dags["audit__deliveries"]
    assert "audit" in audit.tags
    assert audit.timetable.expression == "0 9 * * *"
    check = audit.get_task("check_deliveries")
    callbacks = check.on_failure_callback
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    assert any(getattr(c, "__name__", "") == "late_delivery_alert" for c in callbacks)
    assert check.retries == 0


@pytest.mark.airflow
@pytest.mark.postgres
@pytest.mark.slow
def test_sink_dag_publishes_every_pilot_under_dag_test(
    airflow_db, warehouse, data_root, monkeypatch
):
    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file
    from tierflow.merge.run import merge_library
    from tierflow.sink.verify import verify_feed

    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", "dag-test-secret")
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
    # trust auth ignores it, but the password travels every code path the tasks take
    from tierflow import db

    with_password = warehouse.url.set(password="db-password-never-leaks")
    monkeypatch.setenv("TIERFLOW_DATABASE_URL", with_password.render_as_string(hide_password=False))
    db.engine.cache_clear()
    summary = generate(
        out=data_root,
        scale=200,
        seed=3,
        datasets=["psb.household", "gov.service_case", "trans.truck_gps"],
    )
    for file in summary["files"]:
        ingest_file(Path(file["path"]), file["dataset"], eng=warehouse, run_gx=False)
    merge_library("person", eng=warehouse)
    started = time.perf_counter()
    run = _dagbag().dags["sink__districts"].test()
    assert run.state == "success", f"dag.test() ended {run.state}"
    pilots = catalog().divisions.pilot_codes
    with warehouse.connect() as conn:
        published = conn.execute(
            sa.text(
                "select distinct consumer_id, path from feed.run where run_id = :r and feed_name = 'person'"
            ),
            {
                "r": "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in run.run_id).strip(
                    "._"
                )
            },
        ).all()
    assert {c for c, _ in published} == {f"d{code}" for code in pilots}
    for _consumer, path in published:
        assert verify_feed(Path(path))["ok"]
    print(f"dag.test() of sink__districts: {time.perf_counter() - started:.1f}s")
    _assert_secret_never_leaked(run, data_root, "dag-test-secret")
    _assert_secret_never_leaked(run, data_root, SIGNING_KEY)
    _assert_secret_never_leaked(run, data_root, "db-password-never-leaks")
    db.engine.cache_clear()


def _assert_secret_never_leaked(run, data_root: Path, secret: str) -> None:
    """The secret (pseudonym, signing key) is in no task log, XCom, asset event, manifest or feed."""
    import os

    from airflow.models.asset import AssetEvent
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    needles = [secret.encode(), secret.encode().hex().encode()]
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    scanned = 0
    for root in (logs, data_root / "feeds"):
        for path in root.rglob("*") if root.exists() else []:
            if path.is_file():
                scanned += 1
                content = path.read_bytes()
                assert not any(n in content for n in needles), f"secret found in {path}"
    with create_session() as session:
        xcoms = session.query(XComModel).filter(XComModel.dag_id == "sink__districts").all()
        events = session.query(AssetEvent).all()
    texts = [repr(x.value) for x in xcoms] + [repr(e.extra) for e in events]
    assert xcoms and not any(secret in t for t in texts), "secret found in an XCom or asset event"
    assert scanned > 0
