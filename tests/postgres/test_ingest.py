"""Ingest behaviour beyond the ground truth: schema drift, re-delivery, bad files, CLI, GX and Data Docs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tierflow.generate import generate
from tierflow.ingest.pipeline import ingest_file
from tierflow.ingest.readers import DeliveryRejected

pytestmark = pytest.mark.postgres

HEADER = "id_number,name,gender,ethnicity,birth_date,division_code,address,status,updated_at"
GOOD = "11010519491231002X,张三,2,01,1949-12-31,500103001001,渝中区解放碑街道,normal,2026-11-20T08:00:00"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def _counts(warehouse) -> tuple[int, int]:
    with warehouse.connect() as conn:
        pool = conn.scalar(sa.text("select count(*) from pool.psb_household"))
        quarantine = conn.scalar(sa.text("select count(*) from quality.quarantine"))
    return pool, quarantine


def test_missing_required_column_rejects_the_delivery_and_loads_nothing(
    warehouse, data_root, tmp_path
):
    before = _counts(warehouse)
    bad = _write(
        tmp_path / "h.csv",
        HEADER.replace(",gender", "") + "\n" + GOOD.replace(",2,01", ",01") + "\n",
    )
    with pytest.raises(DeliveryRejected, match="missing required column 'gender'"):
        ingest_file(bad, "psb.household", run_gx=False)
    assert _counts(warehouse) == before
    with warehouse.connect() as conn:
        status, error = conn.execute(
            sa.text("select status, error from quality.delivery where file_path = :p"),
            {"p": str(bad)},
        ).one()
    assert status == "rejected" and "gender" in error


def test_extra_columns_are_recorded_and_ignored(warehouse, data_root, tmp_path):
    path = _write(
        tmp_path / "extra.csv", HEADER + ",wechat_id\n" + GOOD.replace("002X", "002X") + ",wx123\n"
    )
    result = ingest_file(path, "psb.household", run_gx=False)
    assert result["extra_columns"] == ["wechat_id"]
    assert result["rows_accepted"] == 1 and result["rows_quarantined"] == 0


def test_header_only_file_is_a_valid_empty_delivery(warehouse, data_root, tmp_path):
    result = ingest_file(
        _write(tmp_path / "empty.csv", HEADER + "\n"), "psb.household", run_gx=False
    )
    assert (result["rows_in"], result["rows_accepted"], result["rows_quarantined"]) == (0, 0, 0)
    assert result["quarantine"] is None  # nothing quarantined: no quarantine file for nothing
    assert not list((data_root / "quarantine").rglob("*.parquet*"))


def test_the_gx_report_of_an_empty_delivery_is_done_without_a_gx_run(
    warehouse, data_root, tmp_path
):
    from tierflow.ingest.gx import validate_deliveries

    # CRLF: other bytes than the header-only file above (the same content is loaded once)
    result = ingest_file(_write(tmp_path / "none.csv", HEADER + "\r\n"), "psb.household")
    assert result["gx_report"] == "pending"
    (report,) = validate_deliveries([result["delivery_id"]])["validated"]
    assert report["scope"] == "empty"
    assert not (data_root / "docs").exists()  # no GX run, no Data Docs for nothing
    with warehouse.connect() as conn:
        state = conn.execute(
            sa.text("select gx_status, gx_scope from quality.delivery where delivery_id = :d"),
            {"d": result["delivery_id"]},
        ).one()
    assert tuple(state) == ("done", "empty")


def test_zero_byte_file_is_an_error(warehouse, data_root, tmp_path):
    with pytest.raises(DeliveryRejected, match="empty file"):
        ingest_file(_write(tmp_path / "zero.csv", ""), "psb.household", run_gx=False)


def test_the_same_file_delivered_twice_is_loaded_once(warehouse, data_root, tmp_path):
    path = _write(
        tmp_path / "2026-11-21" / "h.csv", HEADER + "\n" + GOOD.replace("张三", "张叁") + "\n"
    )
    first = ingest_file(path, "psb.household", run_gx=False)
    pool_after_first = _counts(warehouse)
    copy = _write(tmp_path / "2026-11-22" / "h-again.csv", path.read_text(encoding="utf-8"))
    second = ingest_file(copy, "psb.household", run_gx=False)
    assert second["duplicate_of"] == first["delivery_id"] and second["loaded_now"] is False
    assert _counts(warehouse) == pool_after_first


def test_unparseable_values_quarantine_the_row_not_the_file(warehouse, data_root, tmp_path):
    rows = [
        GOOD.replace("张三", "王一"),
        GOOD.replace("2026-11-20T08:00:00", "n/a").replace("张三", "王二"),
    ]
    result = ingest_file(
        _write(tmp_path / "p.csv", "\n".join([HEADER, *rows]) + "\n"), "psb.household", run_gx=False
    )
    quarantined = pq.read_table(result["quarantine"]).to_pylist()
    assert result["rows_accepted"] == 1
    assert [(q["_row_number"], q["_reasons"], q["updated_at"]) for q in quarantined] == [
        (2, "updated_at:parse", "n/a")
    ]


def test_cli_ingest_prints_the_contract_keys_and_fails_in_one_line(warehouse, data_root, tmp_path):
    path = _write(tmp_path / "cli.csv", HEADER + "\n" + GOOD.replace("张三", "李雷") + "\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tierflow.cli",
            "ingest",
            str(path),
            "--dataset",
            "psb.household",
            "--json",
            "--no-gx",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {
        "dataset",
        "rows_in",
        "rows_accepted",
        "rows_quarantined",
        "quarantine",
        "suite_success",
    } <= set(result)
    for argv, message in [
        (["ingest", str(path), "--dataset", "psb.nope"], "unknown dataset 'psb.nope'"),
        (["ingest", str(tmp_path / "missing.csv"), "--dataset", "psb.household"], "no such file"),
    ]:
        bad = subprocess.run(
            [sys.executable, "-m", "tierflow.cli", *argv],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert bad.returncode != 0
        assert (
            bad.stderr.count("\n") == 1 and message in bad.stderr and "Traceback" not in bad.stderr
        )


@pytest.mark.slow
def test_gx_validates_the_delivery_and_renders_data_docs(warehouse, data_root, tmp_path):
    summary = generate(out=tmp_path, scale=1500, seed=3, defect_rate=0.1, datasets=["lic.issuance"])
    path = Path(summary["files"][0]["path"])
    result = ingest_file(path, "lic.issuance", run_gx=True)
    assert result["suite_success"] is False and result["gx_report"] == "pending"
    index = data_root / "docs" / "data_docs" / "index.html"
    assert not index.exists()  # GX is not in the load: its report is the step after it
    from tierflow.ingest.gx import validate_deliveries, validate_delivery

    (report,) = validate_deliveries([result["delivery_id"]])["validated"]
    assert report["scope"] == "full" and report["success"] is False
    assert index.exists() and Path(report["data_docs_page"]).is_file()
    page = Path(report["data_docs_page"]).read_text(encoding="utf-8")
    stored = Path(report["gx_result"]).read_bytes()
    with warehouse.connect() as conn:
        gx = conn.execute(
            sa.text(
                "select gx_status, gx_scope, gx_success from quality.delivery"
                " where delivery_id = :d"
            ),
            {"d": result["delivery_id"]},
        ).one()
    assert tuple(gx) == ("done", "full", False)
    # a re-run rewrites the same result and page; a done report is not pending any more
    assert validate_deliveries([result["delivery_id"]]) == {"validated": []}
    again = validate_delivery(result["delivery_id"])
    assert again["gx_result"] == report["gx_result"]
    assert again["data_docs_page"] == report["data_docs_page"]
    assert Path(again["gx_result"]).read_bytes().count(b"unexpected_count") == stored.count(
        b"unexpected_count"
    )
    assert Path(again["data_docs_page"]).read_text(encoding="utf-8").count("<tr") == page.count(
        "<tr"
    )
    with warehouse.connect() as conn:
        ours = dict(
            conn.execute(
                sa.text(
                    "select rule_id, failed from quality.expectation_result where delivery_id = :d"
                ),
                {"d": result["delivery_id"]},
            ).all()
        )
    from tierflow.checks import (
        suites,
    )  # GX agrees with the vectorised masks on every expectation it ran

    frame_result = suites.summarise(suites.run_suite("lic.issuance", _parsed_frame(path)))
    for exp in frame_result["expectations"]:
        rule_id = exp["rule_id"]
        if exp["unexpected_count"] is None or rule_id not in ours:
            continue
        expected = ours[rule_id]
        if rule_id.endswith(
            ":not_null"
        ):  # an unparseable value is null to GX; we report it once, as :parse
            expected += ours.get(rule_id.replace(":not_null", ":parse"), 0)
        assert exp["unexpected_count"] == expected, rule_id


@pytest.mark.slow
def test_quality_validate_writes_pending_reports_and_refuses_bad_input(
    warehouse, data_root, tmp_path
):
    summary = generate(
        out=tmp_path, scale=300, seed=5, defect_rate=0.05, datasets=["psb.household"]
    )
    path = Path(summary["files"][0]["path"])
    cli = [sys.executable, "-m", "tierflow.cli", "ingest", str(path), "--dataset", "psb.household"]
    loaded = subprocess.run([*cli, "--json"], capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    delivery_id = json.loads(loaded.stdout)["delivery_id"]
    assert json.loads(loaded.stdout)["gx_report"] == "pending"

    def quality(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "tierflow.cli", "quality", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    report = quality("report", "--json")
    (row,) = [d for d in json.loads(report.stdout)["deliveries"] if d["delivery_id"] == delivery_id]
    assert row["gx_report"] == "pending"
    for bad, message in (
        (["validate"], "needs a delivery id or --pending"),
        (["validate", "7x"], "not a delivery id: '7x'"),
        (["validate", "999999"], "no delivery 999999"),
        (["validate", str(delivery_id), "--pending"], "not both"),
    ):
        done = quality(*bad)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, (bad, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr
    done = quality("validate", "--pending", "--json")
    assert done.returncode == 0, done.stderr
    (validated,) = json.loads(done.stdout)["validated"]
    assert validated["delivery_id"] == delivery_id and Path(validated["gx_result"]).is_file()
    assert (data_root / "docs" / "data_docs" / "index.html").is_file()
    assert json.loads(quality("validate", "--pending", "--json").stdout) == {"validated": []}
    report = quality("report", "--json")
    (row,) = [d for d in json.loads(report.stdout)["deliveries"] if d["delivery_id"] == delivery_id]
    assert row["gx_report"] == "done" and row["gx_scope"] == "full"


def test_the_ingest_process_imports_neither_gx_nor_pandas_nor_airflow(
    warehouse, data_root, tmp_path
):
    summary = generate(
        out=tmp_path, scale=200, seed=8, defect_rate=0.05, datasets=["psb.household"]
    )
    code = (
        "import sys\n"
        "from tierflow.cli import main\n"
        f"assert main(['ingest', {str(summary['files'][0]['path'])!r},"
        " '--dataset', 'psb.household', '--json']) == 0\n"
        "heavy = {'great_expectations', 'pandas', 'airflow'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1])["gx_report"] == "pending"


def _parsed_frame(path: Path):
    import pyarrow as pa

    from tierflow.contracts import catalog
    from tierflow.ingest.parse import parse_batch
    from tierflow.ingest.readers import open_delivery

    dataset = catalog().dataset("lic.issuance")
    _, stream = open_delivery(path, dataset)
    return pa.concat_tables([parse_batch(b.table, dataset).table for b in stream]).to_pandas()


def test_quality_report_shows_deliveries_and_failing_expectations(warehouse, data_root, tmp_path):
    summary = generate(out=tmp_path, scale=800, seed=9, defect_rate=0.2, datasets=["tax.taxpayer"])
    ingest_file(Path(summary["files"][0]["path"]), "tax.taxpayer", run_gx=False)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tierflow.cli",
            "quality",
            "report",
            "--dataset",
            "tax.taxpayer",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["deliveries"][0]["dataset"] == "tax.taxpayer"
    assert any(e["rule_id"] == "uscc:uscc" and e["failed"] > 0 for e in report["expectations"])
    table = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "quality", "report"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "tax.taxpayer" in table.stdout and "pass rate" in table.stdout
    assert "Responsibility audit" in table.stdout and "departments" in report["audit"]
