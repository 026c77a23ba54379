"""OpenLineage from every task: ingest, merge, sink and aggregate DAGs under dag.test() with
the provider's file transport (tests/conftest.py), and the events checked against what the
tasks really touched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.airflow.test_dags import _dagbag
from tests.conftest import SIGNING_KEY
from tierflow.contracts import catalog

PSEUDONYM_SECRET = "lineage-test-pseudonym-secret"
DB_PASSWORD = "lineage-db-password-never-leaks"


def _events_file() -> Path:
    return Path(json.loads(os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"])["log_file_path"])


def _run(dag_id: str):
    """dag.test() of one DAG with lineage enabled for it (the others stay silent).

    dag.test() runs every DAG of a test session in one process, where the hook lineage
    collector is a process-wide singleton and a task's START event is sent before its
    ``on_execute_callback`` empties it: emptied here too, so the first task of this DAG does
    not carry what the last task of the DAG before it touched (a task runner process runs
    one task and starts empty)."""
    from airflow.providers.openlineage.utils.selective_enable import enable_lineage

    from tierflow.lineage import fresh_collector

    fresh_collector()

    dag = enable_lineage(_dagbag().dags[dag_id])
    run = dag.test()
    assert run.state == "success", f"dag.test() of {dag_id} ended {run.state}"
    return run


def _completed(events: list[dict], job: str) -> list[dict]:
    return [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == job]


def _names(events: list[dict], side: str) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for e in events for d in e.get(side, [])}


@pytest.mark.airflow
@pytest.mark.postgres
@pytest.mark.slow
def test_every_task_reports_what_it_read_and_wrote(airflow_db, warehouse, data_root, monkeypatch):
    from tierflow import db
    from tierflow.generate import generate
    from tierflow.merge.survivorship import load_rules
    from tierflow.run_ids import safe_run_id

    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", PSEUDONYM_SECRET)
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
    # trust auth ignores it, but the password travels every path the tasks take
    with_password = warehouse.url.set(password=DB_PASSWORD)
    monkeypatch.setenv("TIERFLOW_DATABASE_URL", with_password.render_as_string(hide_password=False))
    db.engine.cache_clear()
    events_file = _events_file()
    start = events_file.stat().st_size if events_file.exists() else 0
    generate(out=data_root, scale=200, seed=5, datasets=["psb.household", "gov.service_case"])
    try:
        _run("ingest__psb_household")
        _run("ingest__gov_service_case")
        _run("merge__person")
        sink_run = _run("sink__districts")
        _run("aggregate__tiers")
    finally:
        db.engine.cache_clear()
    raw = events_file.read_bytes()[start:]
    events = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]

    pg = f"postgres://{warehouse.url.host}:{warehouse.url.port or 5432}"
    database = warehouse.url.database
    with warehouse.connect() as conn:
        delivery = conn.execute(
            sa.text(
                "select delivery_id, file_path from quality.delivery"
                " where dataset = 'psb.household' order by delivery_id desc limit 1"
            )
        ).one()
        feeds = conn.execute(
            sa.text("select path from feed.run where run_id = :r"),
            {"r": safe_run_id(sink_run.run_id)},
        ).all()

    # ingest: the landing file in; the pool and this delivery's partition out
    ingest = _completed(events, "ingest__psb_household.ingest")
    assert len(ingest) == 1
    assert _names(ingest, "inputs") == {("file", str(Path(delivery.file_path).absolute()))}
    assert {
        (pg, f"{database}.pool.psb_household"),
        (pg, f"{database}.pool.psb_household_d{delivery.delivery_id}"),
    } <= _names(ingest, "outputs")

    # the GX report: the delivery's partition and quarantine rows in; its Data Docs page out
    report = _completed(events, "ingest__psb_household.gx_report")
    assert len(report) == 1
    assert {
        (pg, f"{database}.pool.psb_household_d{delivery.delivery_id}"),
        (pg, f"{database}.quality.quarantine"),
    } == _names(report, "inputs")
    pages = _names(report, "outputs")
    assert {ns for ns, _ in pages} == {"file"} and len(pages) == 1
    assert all(Path(name).is_file() and name.endswith(".html") for _, name in pages), pages

    # thematic loads: the service-case pool in; its table and history out (no GPS delivered)
    thematic = _completed(events, "sink__districts.load_thematic")
    assert _names(thematic, "inputs") == {(pg, f"{database}.pool.gov_service_case")}
    assert _names(thematic, "outputs") == {
        (pg, f"{database}.thematic.service_case"),
        (pg, f"{database}.thematic.service_case_history"),
    }

    # merge: every pool feeding person in; the library table and its history out
    merge = _completed(events, "merge__person.merge")
    assert (pg, f"{database}.pool.psb_household") in _names(merge, "inputs")
    assert _names(merge, "inputs") == {
        (pg, f"{database}.pool.{catalog().dataset(d).table_name}")
        for d in load_rules("person").datasets
    }
    # a first load: the records' current versions are library rows, no history written
    assert (pg, f"{database}.library.person") in _names(merge, "outputs")
    assert (pg, f"{database}.library.person_history") not in _names(merge, "outputs")

    # sink: one event per pilot district, each reading the library, writing its own feeds
    sink = _completed(events, "sink__districts.sink_district")
    pilots = catalog().divisions.pilot_codes
    assert len(sink) == len(pilots)
    written = _names(sink, "outputs")
    assert written == {("file", str(Path(f.path).absolute())) for f in feeds}
    for event in sink:
        codes = {Path(d["name"]).parts[-3] for d in event["outputs"]}
        assert len(codes) == 1 and codes <= set(pilots), "a district task wrote one district"
    # a library feed's versions: the closed ones in the history, the current ones in the table
    assert {
        (pg, f"{database}.library.person_history"),
        (pg, f"{database}.library.person"),
    } <= _names(sink, "inputs")

    # aggregate: the library and thematic tables in; the aggregate table and report out
    aggregate = _completed(events, "aggregate__tiers.aggregate")
    assert (pg, f"{database}.library.person") in _names(aggregate, "inputs")
    outputs = _names(aggregate, "outputs")
    assert (pg, f"{database}.thematic.tier_aggregate") in outputs
    assert any(ns == "file" and "/reports/national/" in name for ns, name in outputs)

    # a task that touched nothing reports nothing (no leftovers from the task before it)
    assert _names(_completed(events, "sink__districts.pilot_districts"), "outputs") == set()

    for secret in (PSEUDONYM_SECRET, SIGNING_KEY, DB_PASSWORD):
        assert secret.encode() not in raw, "a secret reached a lineage event"
