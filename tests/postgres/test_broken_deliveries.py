"""Every broken delivery either fails with a one-line error and loads nothing, or is taken whole."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.broken_deliveries import CASES, Reject, Take
from tierflow.chain import ready_deliveries
from tierflow.cli import main

pytestmark = pytest.mark.postgres

CHECKSUM = """
select (select count(*) from pool.psb_household) || ':' || (select count(*) from pool.trans_truck_gps)
    || ':' || (select count(*) from quality.quarantine) || ':' || coalesce((select md5(string_agg(
    id_number || name || coalesce(address, ''), ',' order by _delivery_id, _row_number)) from pool.psb_household), '')
"""


def _checksum(warehouse) -> str:
    with warehouse.connect() as conn:
        return conn.scalar(sa.text(CHECKSUM))


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_delivery(case, warehouse, data_root, tmp_path, capsys):
    dataset_id, writer, expected = CASES[case]
    path = writer(tmp_path / "landing" / "psb" / "household" / "2026-11-20" / case)
    before = _checksum(warehouse)
    code = main(["ingest", str(path), "--dataset", dataset_id, "--json", "--no-gx"])
    out, err = capsys.readouterr()
    if isinstance(expected, Reject):
        assert code != 0, f"{case} was accepted: {out}"
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert expected.message in err, err
        assert _checksum(warehouse) == before, "a rejected delivery changed the warehouse"
        return
    assert isinstance(expected, Take)
    assert code == 0, err
    import json

    result = json.loads(out)
    assert result["rows_in"] == result["rows_accepted"] + result["rows_quarantined"]
    if expected.rows_in is not None:
        assert result["rows_in"] == expected.rows_in
    if expected.quarantined is not None:
        assert result["rows_quarantined"] == expected.quarantined
    assert (result["quarantine"] is None) == (result["rows_quarantined"] == 0)
    reasons = {
        r
        for value in (
            pq.read_table(result["quarantine"]).column("_reasons").to_pylist()
            if result["quarantine"]
            else []
        )
        for r in value.split("; ")
    }
    assert expected.reasons <= reasons, reasons
    assert tuple(result["extra_columns"]) == expected.extra_columns or not expected.extra_columns


def test_hostile_values_are_stored_verbatim_and_execute_nothing(
    warehouse, data_root, tmp_path, capsys
):
    _, writer, _ = CASES["sql_text_in_values"]
    path = writer(tmp_path / "landing" / "psb" / "household" / "2026-11-21" / "sql")
    assert main(["ingest", str(path), "--dataset", "psb.household", "--no-gx"]) == 0
    with warehouse.connect() as conn:
        names = set(conn.scalars(sa.text("select name from pool.psb_household")))
        assert "'); drop table library.person; --" in names
        assert conn.scalar(sa.text("select to_regclass('library.person') is not null"))


def test_run_ignores_unfinished_files_symlinks_and_unknown_folders(warehouse, data_root, tmp_path):
    landing = tmp_path / "landing"
    day = landing / "psb" / "household" / "2026-11-22"
    day.mkdir(parents=True)
    (day / "done.csv").write_text("x", encoding="utf-8")
    (day / "done.csv.ready").touch()
    (day / "writing.csv").write_text("x", encoding="utf-8")  # no .ready yet
    outside = tmp_path / "outside.csv"
    outside.write_text("secret", encoding="utf-8")
    (day / "escape.csv").symlink_to(outside)
    (day / "escape.csv.ready").touch()
    stray = landing / "psb" / "no_such_dataset" / "2026-11-22"
    stray.mkdir(parents=True)
    (stray / "x.csv").write_text("x", encoding="utf-8")
    (stray / "x.csv.ready").touch()
    wrong_owner = landing / "tax" / "household" / "2026-11-22"  # tax does not deliver households
    wrong_owner.mkdir(parents=True)
    (wrong_owner / "y.csv").write_text("x", encoding="utf-8")
    (wrong_owner / "y.csv.ready").touch()
    assert ready_deliveries(landing) == [("psb.household", day / "done.csv")]


def test_a_delivery_twice_is_loaded_once_through_the_cli(warehouse, data_root, tmp_path, capsys):
    _, writer, _ = CASES["windows_line_endings"]
    path = writer(tmp_path / "twice")
    assert main(["ingest", str(path), "--dataset", "psb.household", "--no-gx"]) == 0
    before = _checksum(warehouse)
    assert main(["ingest", str(path), "--dataset", "psb.household", "--no-gx"]) == 0
    assert "duplicate" in capsys.readouterr().out
    assert _checksum(warehouse) == before


def test_corpus_is_documented():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for case in CASES:
        assert f"`{case}`" in readme, f"tests/README.md does not list {case}"
