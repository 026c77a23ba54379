"""Airflow retries are safe: a task that fails mid-way and is retried gives one clean run's result."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import SIGNING_KEY
from tierflow.generate import generate

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).dags[dag_id]


@pytest.mark.parametrize("point", ["ingest.after_batch", "ingest.after_publish"])
def test_ingest_task_retried_after_an_injected_failure_equals_one_clean_run(
    point, airflow_db, warehouse, data_root, tmp_path, monkeypatch
):
    seed = 500 + len(point)
    summary = generate(
        out=data_root, scale=800, seed=seed, defect_rate=0.05, datasets=["mca.social_org"]
    )
    marker = tmp_path / "fired"
    monkeypatch.setenv("TIERFLOW_FAIL_AT", point)
    monkeypatch.setenv("TIERFLOW_FAIL_MARKER", str(marker))
    run = _dag("ingest__mca_social_org").test()
    assert marker.exists(), "the injected failure did not fire"
    assert run.state == "success"
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id="ingest__mca_social_org", run_id=run.run_id, task_id="ingest")
            .one()
        )
        assert ti.try_number >= 2, "the task was not retried"
    path = summary["files"][0]["path"]
    with warehouse.connect() as conn:
        deliveries = conn.execute(
            sa.text(
                "select delivery_id, rows_in, rows_accepted, rows_quarantined, rows_superseded from quality.delivery"
                " where file_path = :p and status = 'loaded'"
            ),
            {"p": path},
        ).all()
        assert len(deliveries) == 1
        delivery = deliveries[0]
        pool = conn.scalar(
            sa.text("select count(*) from pool.mca_social_org where _delivery_id = :d"),
            {"d": delivery.delivery_id},
        )
        quarantine = conn.scalar(
            sa.text("select count(*) from quality.quarantine where delivery_id = :d"),
            {"d": delivery.delivery_id},
        )
    assert pool == delivery.rows_accepted - delivery.rows_superseded
    assert quarantine == delivery.rows_quarantined
    assert delivery.rows_in == delivery.rows_accepted + delivery.rows_quarantined


def _try_numbers(dag_id: str, run_id: str, task_id: str) -> list[int]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = (
            session.query(TaskInstance)
            .filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id)
            .all()
        )
        return [ti.try_number for ti in tis]


def test_merge_task_retried_after_an_injected_failure_equals_one_clean_run(
    airflow_db, warehouse, data_root, tmp_path, monkeypatch
):
    from tierflow.ingest.pipeline import ingest_file

    summary = generate(
        out=tmp_path, scale=600, seed=909, defect_rate=0.0, datasets=["psb.household"]
    )
    result = ingest_file(Path(summary["files"][0]["path"]), "psb.household", run_gx=False)
    marker = tmp_path / "fired"
    monkeypatch.setenv("TIERFLOW_FAIL_AT", "merge.after_upsert")
    monkeypatch.setenv("TIERFLOW_FAIL_MARKER", str(marker))
    run = _dag("merge__person").test()
    assert marker.exists() and run.state == "success"
    assert max(_try_numbers("merge__person", run.run_id, "merge")) >= 2
    with warehouse.connect() as conn:
        missing = conn.scalar(
            sa.text(
                "select count(*) from pool.psb_household p where p._delivery_id = :d and not exists"
                " (select 1 from library.person l where l.id_number = p.id_number)"
            ),
            {"d": result["delivery_id"]},
        )
        duplicated_versions = conn.scalar(
            sa.text(
                "select count(*) from (select id_number, valid_from from library.person_history"
                " group by id_number, valid_from having count(*) > 1) d"
            )
        )
    assert missing == 0 and duplicated_versions == 0


def test_sink_task_retried_after_an_injected_failure_publishes_complete_feeds(
    airflow_db, warehouse, data_root, tmp_path, monkeypatch
):
    from tierflow.ingest.pipeline import ingest_file
    from tierflow.merge.run import merge_library
    from tierflow.sink.verify import verify_feed

    summary = generate(
        out=tmp_path, scale=400, seed=919, defect_rate=0.0, datasets=["psb.household"]
    )
    ingest_file(Path(summary["files"][0]["path"]), "psb.household", run_gx=False)
    merge_library("person")
    marker = tmp_path / "fired"
    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", "retry-test-secret")
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("TIERFLOW_FAIL_AT", "sink.before_rename")
    monkeypatch.setenv("TIERFLOW_FAIL_MARKER", str(marker))
    run = _dag("sink__districts").test()
    assert marker.exists() and run.state == "success"
    assert max(_try_numbers("sink__districts", run.run_id, "sink_district")) >= 2
    feeds = [p for p in (data_root / "feeds").glob("*/*/*") if not p.name.startswith(".")]
    assert feeds and all(verify_feed(f)["ok"] for f in feeds)
    assert not [p for p in (data_root / "feeds").rglob(".*") if p.is_dir()]
