"""Airflow retries are safe: a task that fails mid-way and is retried gives one clean run's result."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tierflow.generate import generate

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags")).dags[dag_id]


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
