"""Lineage with the files in a bucket (TIERFLOW_STORAGE=s3://…, a real S3 API server on
loopback): the ingest, merge and sink DAGs under dag.test() with the provider's file
transport name every file by its storage URL (namespace ``s3://bucket``, name the key), and
no credential reaches an event."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.airflow.test_lineage import PSEUDONYM_SECRET, _completed, _events_file, _names, _run
from tests.conftest import SIGNING_KEY
from tests.s3 import ACCESS_KEY, SECRET_KEY
from tierflow.contracts import catalog

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]


def test_files_in_a_bucket_are_named_by_their_storage_url(
    airflow_db, warehouse, data_root, s3_storage, monkeypatch
):
    from tierflow.generate import generate
    from tierflow.run_ids import safe_run_id

    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", PSEUDONYM_SECRET)
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
    events_file = _events_file()
    start = events_file.stat().st_size if events_file.exists() else 0
    generate(out=s3_storage.url, scale=200, seed=9, defect_rate=0.05, datasets=["psb.household"])
    _run("ingest__psb_household")
    _run("merge__person")
    sink_run = _run("sink__districts")
    raw = events_file.read_bytes()[start:]
    events = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]

    bucket = f"s3://{s3_storage.bucket}"
    with warehouse.connect() as conn:
        delivery = conn.execute(
            sa.text(
                "select file_path, quarantine_path from quality.delivery"
                " where dataset = 'psb.household' order by delivery_id desc limit 1"
            )
        ).one()
        feeds = conn.execute(
            sa.text("select path from feed.run where run_id = :r"),
            {"r": safe_run_id(sink_run.run_id)},
        ).all()
    assert delivery.file_path.startswith(f"{s3_storage.url}/landing/")
    assert delivery.quarantine_path.startswith(f"{s3_storage.url}/quarantine/")

    ingest = _completed(events, "ingest__psb_household.ingest")
    key = delivery.file_path.removeprefix(f"{bucket}/")
    assert _names(ingest, "inputs") == {(bucket, key)}
    quarantine = delivery.quarantine_path.removeprefix(f"{bucket}/")
    assert (bucket, quarantine) in _names(ingest, "outputs")

    sink = _completed(events, "sink__districts.sink_district")
    assert len(sink) == len(catalog().divisions.pilot_codes)
    assert feeds and all(f.path.startswith(f"{s3_storage.url}/feeds/") for f in feeds)
    assert _names(sink, "outputs") == {(bucket, f.path.removeprefix(f"{bucket}/")) for f in feeds}

    every = {ns for side in ("inputs", "outputs") for ns, _name in _names(events, side)}
    assert "file" not in every, "a file in the bucket was named as a local one"
    for secret in (SECRET_KEY, ACCESS_KEY, PSEUDONYM_SECRET, SIGNING_KEY):
        assert secret.encode() not in raw, "a credential reached a lineage event"
