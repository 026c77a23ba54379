"""A 12th dataset and a 5th library added as data only, run through the real chain.

In a copy of ``schemas/``: a thematic dataset of a new department (fire inspections, with its
feed file) and a library ``vehicle`` (its dataset, survivorship file and feed file), demands
for one pilot district, and the suites built for that folder. A fresh warehouse migrated with
that folder gets the new tables; two days of deliveries go through ingest → merge → sink
(``tierflow.chain.run_chain``) and the district's feeds of both verify. No Python is changed.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import time
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import PROJECT_ROOT, SIGNING_KEY, create_database, drop_database

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DISTRICT = "500103"
OTHER = "500104"
VEHICLE_CONTRACT = {
    "id": "tpb.vehicle",
    "title": "Motor vehicle registrations",
    "label": "机动车登记信息",
    "department": "tpb",
    "owner": "市公安局交通管理局",
    "library": "vehicle",
    "sharing": "有条件",
    "frequency": "daily",
    "key": ["plate_number"],
    "updated_at": "updated_at",
    "columns": [
        {"name": "plate_number", "label": "号牌号码", "type": "string", "nullable": False,
         "level": 1, "pattern": "^渝[A-Z][0-9A-Z]{5}$", "max_length": 8},
        {"name": "vehicle_type", "label": "车辆类型", "type": "string", "nullable": False,
         "level": 1, "enum": ["car", "truck", "bus"], "max_length": 8},
        {"name": "brand", "label": "品牌", "type": "string", "level": 1, "max_length": 40},
        {"name": "division_code", "label": "登记地行政区划代码", "type": "string",
         "nullable": False, "level": 1, "semantic": "division_code", "max_length": 12},
        {"name": "registered_on", "label": "注册日期", "type": "date", "nullable": False,
         "level": 1, "not_future": True},
        {"name": "updated_at", "label": "更新时间", "type": "timestamp", "nullable": False,
         "level": 1, "not_future": True},
    ],
}  # fmt: skip
INSPECTION_CONTRACT = {
    "id": "fire.inspection",
    "title": "Fire safety inspections",
    "label": "消防监督检查记录",
    "department": "fire",
    "owner": "市消防救援总队",
    "thematic": "fire_inspection",
    "sharing": "有条件",
    "frequency": "daily",
    "key": ["inspection_id"],
    "columns": [
        {"name": "inspection_id", "label": "检查编号", "type": "string", "nullable": False,
         "level": 1, "pattern": "^XF\\d{8}$", "max_length": 10},
        {"name": "division_code", "label": "检查地行政区划代码", "type": "string",
         "nullable": False, "level": 1, "semantic": "division_code", "max_length": 12},
        {"name": "inspected_on", "label": "检查日期", "type": "date", "nullable": False,
         "level": 1, "not_future": True},
        {"name": "result", "label": "检查结果", "type": "string", "nullable": False,
         "level": 1, "enum": ["pass", "fail"], "max_length": 4},
        {"name": "score", "label": "评分", "type": "integer", "level": 1, "min": 0, "max": 100},
    ],
}  # fmt: skip
VEHICLE_RULES = {
    "library": "vehicle",
    "tables": {
        "vehicle": {
            "key": ["plate_number"],
            "sources": {"tpb.vehicle": {}},
            "fields": {
                name: {"sources": [f"tpb.vehicle.{name}"]}
                for name in ("vehicle_type", "brand", "division_code", "registered_on")
            },
        }
    },
}
FEEDS = {
    "vehicle": {"name": "vehicle", "library": "vehicle", "table": "vehicle"},
    "fire_inspection": {
        "name": "fire_inspection",
        "dataset": "fire.inspection",
        "table": "thematic.fire_inspection_history",
    },
}
DAY_1 = {
    "tpb.vehicle": [
        ("渝A12345", "car", "长安", f"{DISTRICT}001001", "2020-05-01", "2026-01-10T08:00:00"),
        ("渝A23456", "truck", "东风", f"{DISTRICT}003002", "2019-03-12", "2026-01-10T08:00:00"),
        ("渝B34567", "bus", "宇通", f"{OTHER}001001", "2021-07-30", "2026-01-10T08:00:00"),
    ],
    "fire.inspection": [
        ("XF00000001", f"{DISTRICT}001001", "2026-01-09", "pass", "92"),
        ("XF00000002", f"{OTHER}001001", "2026-01-09", "fail", "41"),
    ],
}
DAY_2 = {  # one vehicle re-branded, one new; one inspection re-scored, one new
    "tpb.vehicle": [
        ("渝A12345", "car", "长安福特", f"{DISTRICT}001001", "2020-05-01", "2026-01-11T08:00:00"),
        ("渝A45678", "car", "比亚迪", f"{DISTRICT}004001", "2025-12-01", "2026-01-11T08:00:00"),
    ],
    "fire.inspection": [
        ("XF00000001", f"{DISTRICT}001001", "2026-01-09", "pass", "95"),
        ("XF00000003", f"{DISTRICT}003002", "2026-01-10", "fail", "55"),
    ],
}


def _write_yaml(path: Path, data: object) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def schemas_with_a_new_library(root: Path) -> Path:
    """A copy of the project's schemas/ plus the two datasets, the rules, feeds and demands."""
    schemas = root / "schemas"
    shutil.copytree(PROJECT_ROOT / "schemas", schemas)
    for contract in (VEHICLE_CONTRACT, INSPECTION_CONTRACT):
        _write_yaml(schemas / "datasets" / f"{contract['id']}.yaml", contract)
    _write_yaml(schemas / "survivorship" / "vehicle.yaml", VEHICLE_RULES)
    for name, feed in FEEDS.items():
        _write_yaml(schemas / "feeds" / f"{name}.yaml", feed)
    demands = yaml.safe_load((schemas / "lists" / "demand.yaml").read_text(encoding="utf-8"))
    for n, contract in enumerate((VEHICLE_CONTRACT, INSPECTION_CONTRACT), start=901):
        demands["demands"].append(
            {
                "id": f"D-2026-{n}",
                "consumer": f"d{DISTRICT}",
                "dataset": contract["id"],
                "fields": [c["name"] for c in contract["columns"] if c["name"] != "updated_at"],
                "purpose": "新数据集接入测试",
                "status": "approved",
                "approved_on": dt.date(2026, 1, 15),
            }
        )
    _write_yaml(schemas / "lists" / "demand.yaml", demands)
    return schemas


def write_deliveries(landing: Path, day: str, rows: dict[str, list[tuple[str, ...]]]) -> None:
    """One CSV per dataset under landing/<department>/<dataset>/<day>/, with its .ready marker."""
    for contract in (VEHICLE_CONTRACT, INSPECTION_CONTRACT):
        department, name = contract["id"].split(".")
        folder = landing / department / name / day
        folder.mkdir(parents=True)
        path = folder / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([c["name"] for c in contract["columns"]])
            writer.writerows(rows[contract["id"]])
        path.with_name(path.name + ".ready").touch()


def rows(engine: sa.Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def read_feed(folder: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted(folder.glob("part-*.parquet")))


def test_a_new_library_and_a_new_thematic_dataset_run_through_the_chain_as_data(
    tmp_path, monkeypatch
):
    from tierflow import db, migrate
    from tierflow.chain import merge_order, run_chain
    from tierflow.checks.suites import check_suites, write_suites
    from tierflow.contracts import catalog
    from tierflow.sink.verify import verify_feed

    schemas = schemas_with_a_new_library(tmp_path)
    expectations = tmp_path / "expectations"
    shutil.copytree(PROJECT_ROOT / "expectations", expectations)
    name, engine = create_database("tierflow_new_library")
    url = engine.url.render_as_string(hide_password=False)
    for variable, value in {
        "TIERFLOW_SCHEMAS_DIR": str(schemas),
        "TIERFLOW_EXPECTATIONS_DIR": str(expectations),
        "TIERFLOW_DATABASE_URL": url,
        "TIERFLOW_HOME": str(tmp_path / "home"),
        "TIERFLOW_PSEUDONYM_KEY": "test-pseudonym-secret",
        "TIERFLOW_SIGNING_KEY": SIGNING_KEY,
    }.items():
        monkeypatch.setenv(variable, value)
    db.engine.cache_clear()
    try:
        cat = catalog()
        assert len(cat.datasets) == 13 and "vehicle" in cat.libraries
        assert "vehicle" in merge_order()
        # the suites of this schemas folder: what `tierflow suites build` writes
        assert check_suites() == ["fire.inspection", "tpb.vehicle"]
        write_suites()
        assert check_suites() == []

        migrate.upgrade()  # `tierflow db upgrade`: Alembic, then the tables no migration made
        assert migrate.require_current() == migrate.head()
        wh = db.engine()
        for table in ("library.vehicle_history", "thematic.fire_inspection_history"):
            assert rows(wh, f"select to_regclass('{table}') is not null") == [(True,)]

        landing = tmp_path / "landing"
        results = []
        for day, delivered in (("2026-01-10", DAY_1), ("2026-01-11", DAY_2)):
            write_deliveries(landing / day, day, delivered)
            results.append(run_chain(landing / day))
            time.sleep(1.1)  # the next chain's sink gets its own run id (seconds)
        for result in results:
            ingested = {r["dataset"]: r for r in result["ingested"]}
            assert set(ingested) == {"tpb.vehicle", "fire.inspection"}, result["rejected"]
            assert all(r["rows_quarantined"] == 0 for r in ingested.values())
        merged = {m["library"]: m for m in results[1]["merged"]}
        assert (merged["vehicle"]["inserted"], merged["vehicle"]["updated"]) == (1, 1)

        # the golden rows: the second day's brand wins, nothing else changed
        assert rows(
            wh,
            "select plate_number, vehicle_type, brand, division_code, registered_on::text"
            " from library.vehicle order by plate_number",
        ) == [
            ("渝A12345", "car", "长安福特", f"{DISTRICT}001001", "2020-05-01"),
            ("渝A23456", "truck", "东风", f"{DISTRICT}003002", "2019-03-12"),
            ("渝A45678", "car", "比亚迪", f"{DISTRICT}004001", "2025-12-01"),
            ("渝B34567", "bus", "宇通", f"{OTHER}001001", "2021-07-30"),
        ]
        # the history holds the closed version, the current ones are the library rows
        assert rows(
            wh,
            "select plate_number, brand, valid_to = (select changed_at from library.vehicle"
            " as v where v.plate_number = h.plate_number) from library.vehicle_history as h"
            " order by plate_number, valid_from",
        ) == [("渝A12345", "长安", True)]
        assert rows(
            wh,
            "select inspection_id, score, (select count(*) from thematic.fire_inspection_history"
            " as h where h.inspection_id = t.inspection_id)"
            " from thematic.fire_inspection as t order by inspection_id",
        ) == [("XF00000001", 95, 2), ("XF00000002", 41, 1), ("XF00000003", 55, 1)]

        # both new feeds reach the district that asked, verify, and hold only its rows
        feeds = tmp_path / "home" / "feeds" / DISTRICT
        for feed, key, expected in (
            ("vehicle", "plate_number", {"渝A12345", "渝A23456", "渝A45678"}),
            ("fire_inspection", "inspection_id", {"XF00000001", "XF00000003"}),
        ):
            published = sorted((feeds / feed).iterdir())
            assert len(published) == 2, published  # one per chain run
            sent: set[str] = set()
            for folder in published:
                verified = verify_feed(folder)
                assert verified["ok"], verified["problems"]
                table = read_feed(folder)
                assert all(
                    c.startswith(DISTRICT) for c in table.column("division_code").to_pylist()
                )
                sent |= set(table.column(key).to_pylist())
            assert sent == expected
        assert not (tmp_path / "home" / "feeds" / OTHER / "vehicle").exists()  # asked for nothing
    finally:
        db.engine.cache_clear()
        engine.dispose()
        drop_database(name)
