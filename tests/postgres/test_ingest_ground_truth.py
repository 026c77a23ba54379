"""The quarantine equals the generator's ground truth, for every dataset, format and encoding."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tierflow.contracts import catalog
from tierflow.generate import generate
from tierflow.ingest.pipeline import ingest_file

pytestmark = [pytest.mark.postgres]

DATASETS = [d.id for d in catalog().datasets]


def _truth(out: Path, dataset_id: str):
    gt = pq.read_table(out / "_ground_truth.parquet").to_pandas()
    return gt[gt.dataset == dataset_id]


def _file_of(summary: dict, dataset_id: str) -> Path:
    return Path(next(f["path"] for f in summary["files"] if f["dataset"] == dataset_id))


def _assert_matches_truth(result: dict, truth, warehouse) -> None:
    assert result["rows_in"] == result["rows_accepted"] + result["rows_quarantined"]
    quarantined = pq.read_table(result["quarantine"]).to_pandas()
    got = {
        (int(r), reason)
        for r, reasons in zip(quarantined._row_number, quarantined._reasons, strict=True)
        for reason in reasons.split("; ")
    }
    blocking = truth[truth.severity == "block"]
    expected = {(int(r), d) for r, d in zip(blocking.row_number, blocking.defect, strict=True)}
    missed = sorted(expected - got)[:10]
    wrong = sorted(got - expected)[:10]
    assert not missed and not wrong, f"missed {missed}, wrongly quarantined {wrong}"
    assert result["rows_quarantined"] == len(quarantined) == blocking.row_number.nunique()
    superseded_rows = set(truth[truth.defect == "superseded"].row_number.astype(int))
    with warehouse.connect() as conn:
        stored = set(
            conn.scalars(
                sa.text("select row_number from quality.superseded where delivery_id = :d"),
                {"d": result["delivery_id"]},
            )
        )
        in_db = conn.scalar(
            sa.text("select count(*) from quality.quarantine where delivery_id = :d"),
            {"d": result["delivery_id"]},
        )
        warned = dict(
            conn.execute(
                sa.text(
                    "select rule_id, failed from quality.expectation_result where delivery_id = :d and severity = 'warn'"
                ),
                {"d": result["delivery_id"]},
            ).all()
        )
    assert stored == superseded_rows
    assert in_db == result["rows_quarantined"]
    warn_truth = Counter(truth[truth.severity == "warn"].defect)
    assert {k: v for k, v in warned.items() if v} == dict(warn_truth)


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory):
    out = tmp_path_factory.mktemp("extracts")
    return out, generate(out=out, scale=3000, seed=21, defect_rate=0.3)


@pytest.mark.parametrize("dataset_id", DATASETS)
def test_quarantine_equals_ground_truth(dataset_id, deliveries, warehouse, data_root):
    out, summary = deliveries
    truth = _truth(out, dataset_id)
    classes = set(truth.defect) - {"superseded", "normalised"}
    assert len(classes) >= 3, f"too few defect classes generated for {dataset_id}: {classes}"
    result = ingest_file(_file_of(summary, dataset_id), dataset_id, run_gx=False)
    _assert_matches_truth(result, truth, warehouse)
    _assert_normalised_rows_loaded_clean(result, truth, dataset_id, warehouse)


def _assert_normalised_rows_loaded_clean(result: dict, truth, dataset_id: str, warehouse) -> None:
    """Rows needing repair (spaces, full-width, lower-case x, offsets) are accepted, repaired."""
    dataset = catalog().dataset(dataset_id)
    rows = set(truth[truth.defect == "normalised"].row_number.astype(int))
    # codes and identifiers are repaired; free text (company names) may keep full-width brackets
    text_columns = [
        c.name
        for c in dataset.columns
        if c.type.value == "string" and (c.semantic or c.pattern or c.enum)
    ]
    dirty = " or ".join(
        f"{c} ~ '(^\\s|\\s$|[\\uff01-\\uff5e])' or {c} ~ '^\\d{{17}}x$'" for c in text_columns
    )
    with warehouse.connect() as conn:
        loaded = set(
            conn.scalars(
                sa.text(
                    f"select _row_number from pool.{dataset.table_name} where _delivery_id = :d"
                ),
                {"d": result["delivery_id"]},
            )
        )
        unclean = conn.scalar(
            sa.text(
                f"select count(*) from pool.{dataset.table_name} where _delivery_id = :d and ({dirty})"
            ),
            {"d": result["delivery_id"]},
        )
    assert rows <= loaded, f"normalised rows not accepted: {sorted(rows - loaded)[:10]}"
    assert unclean == 0


VARIANTS = [
    ("psb.household", "parquet", None),
    ("psb.household", "jsonl", None),
    ("psb.household", "csv", "gb18030"),
    ("psb.household", "csv", "utf-8-sig"),
    ("samr.enterprise", "csv", "gb18030"),
    ("lic.issuance", "jsonl", None),
    ("lic.issuance", "parquet", None),
    ("mnr.land_parcel", "csv", "utf-8"),
    ("gov.service_case", "csv", "utf-8-sig"),
    ("trans.truck_gps", "parquet", None),
]


@pytest.mark.slow
@pytest.mark.parametrize(("dataset_id", "fmt", "encoding"), VARIANTS)
def test_every_format_and_encoding_matches_ground_truth(
    dataset_id, fmt, encoding, warehouse, data_root, tmp_path
):
    summary = generate(
        out=tmp_path,
        scale=2000,
        seed=33,
        defect_rate=0.2,
        fmt=fmt,
        encoding=encoding,
        datasets=[dataset_id],
    )
    result = ingest_file(_file_of(summary, dataset_id), dataset_id, run_gx=False)
    assert result["format"] == fmt
    if encoding:
        assert result["encoding"] == encoding
    _assert_matches_truth(result, _truth(tmp_path, dataset_id), warehouse)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset_id", "fmt"),
    [("psb.household", "csv"), ("lic.issuance", "jsonl"), ("gov.service_case", "parquet")],
)
def test_many_small_batches_number_rows_exactly(
    dataset_id, fmt, warehouse, data_root, tmp_path, monkeypatch
):
    """Streaming in 64 KiB blocks (hundreds of batches) gives the same quarantine as one batch."""
    from tierflow.ingest import readers

    monkeypatch.setenv("TIERFLOW_BLOCK_BYTES", str(64 << 10))
    monkeypatch.setattr(readers, "PARQUET_BATCH_ROWS", 500)
    summary = generate(
        out=tmp_path, scale=20000, seed=44, defect_rate=0.05, fmt=fmt, datasets=[dataset_id]
    )
    result = ingest_file(_file_of(summary, dataset_id), dataset_id, run_gx=False)
    _assert_matches_truth(result, _truth(tmp_path, dataset_id), warehouse)
