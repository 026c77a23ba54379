"""The person merge DAG under dag.test(): golden records written, the library asset emitted."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PERSON_POOLS = ("psb.household", "nhc.vital_event", "hrss.social_insurance")


@pytest.mark.unit
def test_one_merge_dag_per_library_scheduled_on_its_pools():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["merge__person"]
    assert {"merge", "library:person"} <= set(dag.tags)
    scheduled_on = {a.name for a in dag.timetable.asset_condition.objects}  # AssetAny: any of them
    assert scheduled_on == {f"pool.{d.replace('.', '_')}" for d in PERSON_POOLS}
    (merge,) = dag.tasks
    assert [o.uri for o in merge.outlets] == ["tierflow://library/person"]
    merge_ids = {d for d in bag.dag_ids if d.startswith("merge__")}
    assert merge_ids == {
        f"merge__{n}" for n in ("person", "legal_entity", "geospatial", "e_license")
    }


@pytest.mark.airflow
@pytest.mark.postgres
@pytest.mark.slow
def test_person_merge_dag_runs_under_dag_test(airflow_db, warehouse, data_root):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file

    summary = generate(
        out=data_root, scale=1000, seed=17, defect_rate=0.02, datasets=list(PERSON_POOLS)
    )
    for extract in summary["files"]:
        ingest_file(extract["path"], extract["dataset"], run_gx=False)

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["merge__person"]
    run = dag.test()
    assert run.state == "success", f"dag.test() ended {run.state}"

    with warehouse.connect() as conn:
        library_rows = conn.scalar(sa.text("select count(*) from library.person"))
        household_keys = conn.scalar(
            sa.text("select count(distinct id_number) from pool.psb_household")
        )
        watermark = conn.scalar(
            sa.text("select count(*) from library.merge_watermark where library = 'person'")
        )
    assert library_rows >= household_keys > 0
    assert watermark == len(PERSON_POOLS)
    with create_session() as session:
        event = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "library.person")
            .order_by(AssetEvent.id.desc())
            .first()
        )
    assert event is not None
    assert event.extra["library_rows"] == library_rows
    assert event.extra["inserted"] > 0
    assert {"inserted", "updated", "unchanged"} <= set(event.extra)
