"""Suites generated from the contracts, the custom GX expectations, validation and Data Docs.

Tests marked ``slow`` import Great Expectations (about 3-6 s once per process).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest

from tierflow import identifiers as idf
from tierflow.checks import masks, suites
from tierflow.checks.rules import EXPECTATION_TYPES, RuleContext, evaluate, rules_for
from tierflow.contracts import ColumnType, Dataset, catalog

BUILTIN_KINDS = {"exists", "not_null", "in_set", "pattern", "range", "max_length", "not_before"}
CUSTOM_TYPES = {t for kind, t in EXPECTATION_TYPES.items() if kind not in BUILTIN_KINDS}
ARROW_TYPES = {
    ColumnType.string: pa.string(),
    ColumnType.integer: pa.int64(),
    ColumnType.decimal: pa.float64(),
    ColumnType.date: pa.date32(),
    ColumnType.timestamp: pa.timestamp("us", tz="UTC"),
}


def cid(body17: str) -> str:
    return body17 + idf.id_check_char(body17)


def uscc(first8: str, body8: str) -> str:
    first16 = first8 + body8 + idf.org_code_check_char(body8)
    return first16 + idf.uscc_check_char(first16)


MAN = cid("50010319900101001")  # born 1990-01-01, 17th char odd: male
WOMAN = cid("50010819851231002")  # born 1985-12-31, female
BAD_ID = MAN[:17] + ("0" if MAN[17] != "0" else "1")
FIRM = uscc("91500103", "MA01B2C3")
ORG = uscc("51500108", "MJ0K1L2M")
BAD_USCC = FIRM[:17] + ("0" if FIRM[17] != "0" else "1")
TS = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.UTC)
DAY = dt.date(2020, 1, 1)
WKT = "POLYGON((106.5 29.5, 106.6 29.5, 106.6 29.6, 106.5 29.5))"

GOOD_ROWS: dict[str, dict[str, Any]] = {
    "psb.household": {
        "id_number": MAN,
        "name": "张三",
        "gender": "1",
        "ethnicity": "01",
        "birth_date": dt.date(1990, 1, 1),
        "division_code": "500103001001",
        "address": "解放碑",
        "status": "normal",
        "updated_at": TS,
    },
    "nhc.vital_event": {
        "event_id": "VE20240501000001",
        "id_number": WOMAN,
        "event_type": "birth",
        "event_date": DAY,
        "division_code": "500108002003",
        "updated_at": TS,
    },
    "hrss.social_insurance": {
        "id_number": MAN,
        "employer_uscc": FIRM,
        "insurance_type": "medical",
        "status": "active",
        "phone": "13800138000",
        "updated_at": TS,
    },
    "samr.enterprise": {
        "uscc": FIRM,
        "name": "重庆某某有限公司",
        "entity_type": "limited_liability",
        "legal_rep_name": "张三",
        "legal_rep_id_number": MAN,
        "registered_capital": 100.0,
        "established_on": DAY,
        "status": "active",
        "division_code": "500103001001",
        "address": "渝中区",
        "industry_code": "C13",
        "updated_at": TS,
    },
    "tax.taxpayer": {"uscc": FIRM, "tax_status": "normal", "credit_grade": "A", "updated_at": TS},
    "mca.social_org": {
        "uscc": ORG,
        "name": "重庆某协会",
        "org_type": "social_group",
        "legal_rep_name": "李四",
        "legal_rep_id_number": WOMAN,
        "division_code": "500108002003",
        "address": "南岸区",
        "updated_at": TS,
    },
    "mnr.land_parcel": {
        "parcel_id": "500103001001GB00001",
        "land_use_code": "0101",
        "area_m2": 1000.0,
        "geometry_wkt": WKT,
        "division_code": "500103001001",
        "updated_at": TS,
    },
    "mnr.address": {
        "address_id": "A500103001001000001",
        "full_address": "重庆市渝中区解放碑1号",
        "division_code": "500103001001",
        "longitude": 106.57,
        "latitude": 29.55,
        "updated_at": TS,
    },
    "lic.issuance": {
        "license_type_code": "YYZZ",
        "license_number": "YYZZ-2024-000001",
        "holder_kind": "entity",
        "holder_id": FIRM,
        "issuing_authority": "市市场监管局",
        "issued_on": DAY,
        "valid_from": DAY,
        "valid_until": dt.date(2030, 1, 1),
        "status": "valid",
        "division_code": "500103001001",
        "updated_at": TS,
    },
    "gov.service_case": {
        "case_id": "YKB2024050100000001",
        "item_code": "500000-000001-001",
        "applicant_kind": "person",
        "applicant_id": MAN,
        "department_code": "psb",
        "division_code": "500103001001",
        "accepted_at": TS,
        "completed_at": TS + dt.timedelta(hours=2),
        "status": "completed",
        "rating": 5,
    },
    "trans.truck_gps": {
        "plate_number": "渝A12345",
        "recorded_at": TS,
        "longitude": 106.57,
        "latitude": 29.55,
        "speed_kmh": 60.0,
        "heading": 90,
    },
}


def table_of(dataset: Dataset, rows: list[dict[str, Any]]) -> pa.Table:
    """A parsed, normalised batch as the readers produce it: contract-typed Arrow columns."""
    return pa.table(
        {c.name: pa.array([r[c.name] for r in rows], ARROW_TYPES[c.type]) for c in dataset.columns}
    )


def bad_value(dataset: Dataset, rule: Any, good: dict[str, Any]) -> tuple[str, Any]:
    """(column, value) that breaks ``rule`` in an otherwise good row."""
    name = rule.columns[0]
    col = dataset.column(name)
    match rule.kind:
        case "not_null":
            return name, None
        case "in_set":
            return name, "Z"
        case "pattern":
            return name, "!"
        case "range":
            if rule.kwargs["max_value"] is not None:
                value = rule.kwargs["max_value"] + 1
            else:
                value = rule.kwargs["min_value"] - 1
            return name, int(value) if col.type == ColumnType.integer else float(value)
        case "max_length":
            return name, "9" * (col.max_length + 1)
        case "citizen_id":
            return name, BAD_ID
        case "uscc":
            return name, BAD_USCC
        case "division_code":
            return name, "999999001001"
        case "wkt_polygon":
            return name, "POLYGON((0 0, 1 0, 1 1, 0 0))"
        case "not_future":
            far = dt.date(2999, 1, 1)
            return name, far if col.type == ColumnType.date else dt.datetime(
                2999, 1, 1, tzinfo=dt.UTC
            )
        case "birth_date_matches_id":
            return name, good[name] + dt.timedelta(days=1)
        case "gender_matches_id":
            return name, "2" if good[name] == "1" else "1"
        case "not_before":
            earlier = good[rule.columns[1]]
            return name, earlier - (
                dt.timedelta(days=1) if isinstance(earlier, dt.date) else dt.timedelta(hours=1)
            )
        case "holder_id_matches_kind":
            kind = rule.columns[1]
            return kind, "entity" if good[kind] == "person" else "person"
        case "in_city_box":
            return name, 0.0
    raise AssertionError(f"no bad value for {rule.kind}")


def one_bad_row_per_rule(dataset: Dataset) -> pa.Table:
    good = GOOD_ROWS[dataset.id]
    rows = [good]
    for rule in rules_for(dataset, suites.known_districts()):
        if rule.kind != "exists":
            column, value = bad_value(dataset, rule, good)
            rows.append(good | {column: value})
    return table_of(dataset, rows)


DATASET_IDS = [d.id for d in catalog().datasets]


# --- unit: the generated suites ----------------------------------------------------------------


@pytest.mark.unit
def test_committed_suites_equal_generated():
    assert suites.check_suites() == [], "run tierflow.checks.suites.write_suites()"


@pytest.mark.unit
def test_write_and_check_round_trip(tmp_path):
    (tmp_path / "gone.dataset.json").write_text("{}\n")
    written = suites.write_suites(tmp_path)
    assert sorted(p.stem for p in written) == sorted(DATASET_IDS)
    assert suites.check_suites(tmp_path) == []
    assert not (tmp_path / "gone.dataset.json").exists()
    text = (tmp_path / "psb.household.json").read_text(encoding="utf-8")
    assert text.endswith("}\n") and "公民身份号码" in text
    (tmp_path / "tax.taxpayer.json").write_text(text.replace("block", "warn"), encoding="utf-8")
    assert suites.check_suites(tmp_path) == ["tax.taxpayer"]


@pytest.mark.unit
@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_every_column_is_named_by_an_expectation(dataset_id):
    ds = catalog().dataset(dataset_id)
    data = suites.suite_dict(ds)
    assert data["name"] == f"tierflow.{ds.id}"
    named = {
        e["kwargs"][k]
        for e in data["expectations"]
        for k in ("column", "column_A", "column_B")
        if k in e["kwargs"]
    }
    assert named >= {c.name for c in ds.columns}
    for exp in data["expectations"]:
        assert exp["meta"]["severity"] in {"block", "warn"}
        assert exp["meta"]["rule_id"] and exp["meta"]["label"]
        assert exp["type"] in EXPECTATION_TYPES.values()
    assert GOOD_ROWS[ds.id].keys() == {c.name for c in ds.columns}


@pytest.mark.unit
def test_division_rules_carry_the_reference_districts():
    exp = next(
        e
        for e in suites.suite_dict("psb.household")["expectations"]
        if e["type"] == suites.DIVISION_TYPE
    )
    assert exp["kwargs"]["known_districts"] == list(suites.known_districts())
    assert "500103" in exp["kwargs"]["known_districts"]


@pytest.mark.unit
def test_importing_suites_does_not_import_gx():
    code = "import sys, tierflow.checks.suites; assert 'great_expectations' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- slow: GX itself ---------------------------------------------------------------------------


def gx_unexpected(expectation_type: str, kwargs: dict[str, Any], table: pa.Table) -> dict:
    """Run one expectation with GX on the pandas form of ``table``; its result dict."""
    from great_expectations.core import ExpectationSuite
    from great_expectations.validator.v1_validator import Validator

    suites._context()
    suite = ExpectationSuite(
        name="agreement", expectations=[{"type": expectation_type, "kwargs": kwargs}]
    )
    assert len(suite.expectations) == 1
    validator = Validator(
        batch_definition=suites._batch_definition("test.agreement"),
        batch_parameters={"dataframe": table.to_pandas()},
        result_format="SUMMARY",
    )
    (res,) = validator.validate_expectation_suite(suite).results
    assert not res.exception_info.get("raised_exception"), res.exception_info
    return res.result


NOW = dt.datetime.now(dt.UTC)
S = pa.string()
AGREEMENT_CASES = [
    (
        "expect_column_values_to_be_valid_citizen_id",
        {},
        masks.citizen_id,
        [
            pa.array(
                [MAN, WOMAN, BAD_ID, None, "", "50010319900101001", MAN.lower() + "x"]
                # checked to the letter: Feb 30, province 99, zone code, 1899, the far future
                + [cid("50010319900230123"), cid("99010119900101123"), cid("50990119900101123")]
                + [cid("50010318991231123"), cid("50010329990101123"), cid("11010520000229123")],
                S,
            )
        ],
    ),
    (
        "expect_column_values_to_be_valid_uscc",
        {},
        masks.uscc,
        [
            pa.array(
                [FIRM, ORG, BAD_USCC, None, "91500103MA01B2C3I0", "short"]
                + [uscc("91990103", "MA01B2C3"), uscc("91509901", "MA01B2C3")],
                S,
            )
        ],
    ),
    (
        "expect_column_values_to_be_known_division_code",
        {"known_districts": ["500103", "500108"]},
        lambda v: masks.division_code(v, ["500103", "500108"]),
        [
            pa.array(
                [
                    "500103001001",
                    "500108599599",
                    "500103000001",
                    "500103001600",
                    "999999001001",
                    None,
                    "5001030010011",
                ],
                S,
            )
        ],
    ),
    (
        "expect_column_values_to_be_known_division_code",
        {"known_districts": ["500103", "500108"], "township_prefixes": ["500103001"]},
        lambda v: masks.division_code(v, ["500103", "500108"], ["500103001"]),
        [pa.array(["500103001001", "500103002001", "500108002001", None], S)],
    ),
    (
        "expect_column_values_to_be_valid_polygon_in_city_box",
        {},
        masks.wkt_polygon,
        [
            pa.array(
                [
                    WKT,
                    "POLYGON((0 0, 1 0, 1 1, 0 0))",
                    "POINT(106.5 29.5)",
                    "not wkt",
                    None,
                    "POLYGON((106.5 29.5, 106.6 29.6, 106.6 29.5, 106.5 29.6, 106.5 29.5))",
                ],
                S,
            )
        ],
    ),
    (
        "expect_column_values_to_not_be_in_the_future",
        {},
        lambda v: masks.not_future(v, NOW),
        [
            pa.array(
                [DAY, dt.date(2999, 1, 1), None, NOW.date() - dt.timedelta(days=2)], pa.date32()
            )
        ],
    ),
    (
        "expect_column_values_to_not_be_in_the_future",
        {},
        lambda v: masks.not_future(v, NOW),
        [
            pa.array(
                [TS, dt.datetime(2999, 1, 1, tzinfo=dt.UTC), None, NOW - dt.timedelta(hours=1)],
                pa.timestamp("us", tz="UTC"),
            )
        ],
    ),
    (
        "expect_column_pair_values_birth_date_to_match_citizen_id",
        {},
        masks.birth_date_matches_id,
        [
            pa.array(
                [
                    dt.date(1990, 1, 1),
                    dt.date(1990, 1, 2),
                    None,
                    dt.date(1990, 1, 2),
                    dt.date(1985, 12, 31),
                ],
                pa.date32(),
            ),
            pa.array([MAN, MAN, MAN, BAD_ID, None], S),
        ],
    ),
    (
        "expect_column_pair_values_gender_to_match_citizen_id",
        {},
        masks.gender_matches_id,
        [
            pa.array(["1", "2", "2", None, "2", "9"], S),
            pa.array([MAN, MAN, WOMAN, MAN, BAD_ID, MAN], S),
        ],
    ),
    (
        "expect_column_pair_values_holder_id_to_match_kind",
        {},
        masks.holder_id_matches_kind,
        [
            pa.array([MAN, FIRM, FIRM, MAN, BAD_ID, None, MAN], S),
            pa.array(["person", "entity", "person", "entity", "person", "person", None], S),
        ],
    ),
    (
        "expect_column_pair_values_to_be_in_city_box",
        {},
        masks.in_city_box,
        [
            pa.array([106.5, 0.0, 106.5, None, 111.0, 105.28], pa.float64()),
            pa.array([29.5, 29.5, 40.0, 29.5, None, 32.21], pa.float64()),
        ],
    ),
]


@pytest.mark.unit
@pytest.mark.slow
def test_every_custom_type_has_an_agreement_case():
    from tierflow.checks import gx_expectations

    assert set(gx_expectations.CUSTOM_EXPECTATIONS) == CUSTOM_TYPES
    assert {case[0] for case in AGREEMENT_CASES} == CUSTOM_TYPES


@pytest.mark.unit
@pytest.mark.slow
@pytest.mark.parametrize(
    ("expectation_type", "extra", "mask", "arrays"),
    AGREEMENT_CASES,
    ids=[c[0][7:] for c in AGREEMENT_CASES],
)
def test_gx_counts_agree_with_masks(expectation_type, extra, mask, arrays):
    names = ["a", "b"][: len(arrays)]
    table = pa.table(dict(zip(names, arrays, strict=True)))
    kwargs = {"column": "a"} if len(arrays) == 1 else {"column_A": "a", "column_B": "b"}
    result = gx_unexpected(expectation_type, kwargs | extra, table)
    expected = int(mask(*arrays).sum())
    assert 0 < expected < len(table)  # each case has both good and bad rows
    assert result["unexpected_count"] == expected
    assert result["element_count"] == len(table)


@pytest.mark.unit
def test_division_code_mask_flags_non_numeric_codes():
    fail = masks.division_code(pa.array(["50010300100a", "500103001001"]), ["500103"])
    assert fail.tolist() == [True, False]


@pytest.mark.unit
@pytest.mark.slow
def test_dates_as_datetime64_and_all_null_columns_agree():
    dates = pa.array([DAY, dt.date(2999, 1, 1), None], pa.date32())
    as_ts = pa.table({"a": dates.cast(pa.timestamp("s"))})  # pandas gives datetime64[s]
    assert (
        gx_unexpected("expect_column_values_to_not_be_in_the_future", {"column": "a"}, as_ts)[
            "unexpected_count"
        ]
        == 1
    )
    pair = pa.table({"a": pa.array([None, None], pa.date32()), "b": pa.array([MAN, None], S)})
    assert (
        gx_unexpected(
            "expect_column_pair_values_birth_date_to_match_citizen_id",
            {"column_A": "a", "column_B": "b"},
            pair,
        )["unexpected_count"]
        == 0
    )


@pytest.mark.unit
@pytest.mark.slow
@pytest.mark.parametrize("dataset_id", DATASET_IDS)
def test_one_bad_row_per_rule_fails_each_rule(dataset_id):
    ds = catalog().dataset(dataset_id)
    table = one_bad_row_per_rule(ds)
    summary = suites.validate_frame(ds, table.to_pandas())
    assert json.loads(json.dumps(summary)) == summary
    by_rule = {r["rule_id"]: r for r in summary["expectations"]}
    ctx = RuleContext(known_districts=suites.known_districts())
    assert not summary["success"]
    for rule in rules_for(ds, suites.known_districts()):
        got = by_rule[rule.rule_id]
        assert got["exception"] is None, got
        if rule.kind == "exists":
            assert got["success"]
            continue
        fail, _ = evaluate(rule, table, ctx)
        assert not fail[0], f"{rule.rule_id} fails the good row"
        assert not got["success"], rule.rule_id
        # built-in and custom expectations alike count what row-level quarantine masks
        assert got["unexpected_count"] == int(fail.sum()), rule.rule_id
        assert got["element_count"] == table.num_rows
        assert got["severity"] == rule.severity.value


@pytest.mark.unit
@pytest.mark.slow
def test_good_rows_pass_and_missing_column_fails_exists():
    ds = catalog().dataset("lic.issuance")
    table = table_of(ds, [GOOD_ROWS[ds.id]] * 3)
    summary = suites.validate_frame(ds, table.to_pandas())
    assert summary["success"] and summary["block_success"], summary
    missing = suites.validate_frame(ds, table.drop_columns(["holder_id"]).to_pandas())
    by_rule = {r["rule_id"]: r for r in missing["expectations"]}
    assert not by_rule["holder_id:exists"]["success"]
    assert by_rule["issued_on:not_future"]["success"]


@pytest.mark.unit
@pytest.mark.slow
def test_warn_rules_do_not_break_block_success():
    ds = catalog().dataset("hrss.social_insurance")
    table = table_of(ds, [GOOD_ROWS[ds.id], GOOD_ROWS[ds.id] | {"phone": "12345"}])
    summary = suites.validate_frame(ds, table.to_pandas())
    assert not summary["success"] and summary["block_success"]


@pytest.mark.unit
@pytest.mark.slow
def test_township_prefixes_tighten_division_codes():
    ds = catalog().dataset("mnr.address")
    rows = [GOOD_ROWS[ds.id], GOOD_ROWS[ds.id] | {"division_code": "500103009001"}]
    frame = table_of(ds, rows).to_pandas()
    loose = {r["rule_id"]: r for r in suites.validate_frame(ds, frame)["expectations"]}
    tight = {
        r["rule_id"]: r
        for r in suites.validate_frame(ds, frame, township_prefixes=("500103001",))["expectations"]
    }
    assert loose["division_code:division_code"]["unexpected_count"] == 0
    assert tight["division_code:division_code"]["unexpected_count"] == 1


@pytest.mark.unit
@pytest.mark.slow
def test_empty_batch_validates():
    ds = catalog().dataset("psb.household")
    summary = suites.validate_frame(ds, table_of(ds, []).to_pandas())
    assert summary["success"]


# the index lists runs in a bootstrap-table data blob, not as plain anchors
VALIDATION_LINK = re.compile(r"validations/[^\"'\s\\]+?\.html")


@pytest.mark.unit
@pytest.mark.slow
def test_data_docs_show_custom_expectations_without_sensitive_values(tmp_path):
    ds = catalog().dataset("psb.household")
    table = one_bad_row_per_rule(ds)
    result = suites.run_suite(ds, table.to_pandas())
    index = suites.build_data_docs(result, tmp_path / "docs")
    assert index.is_file() and index.parent.parent == tmp_path / "docs"
    html = index.read_text(encoding="utf-8")
    links = VALIDATION_LINK.findall(html)
    assert links, "index lists no validation run"
    page = (index.parent / links[0]).read_text(encoding="utf-8")
    for name in (
        "expect_column_values_to_be_valid_citizen_id",
        "expect_column_values_to_be_known_division_code",
        "expect_column_pair_values_gender_to_match_citizen_id",
    ):
        assert name in page
    assert "Rendering failed" not in page
    assert BAD_ID not in page  # level-4 values never reach the HTML
    assert "999999001001" in page  # level-2 samples still help the department
    # a second run in the same docs folder keeps the first one in the index
    suites.build_data_docs(suites.run_suite(ds, table.to_pandas()), tmp_path / "docs")
    assert len(set(VALIDATION_LINK.findall(index.read_text(encoding="utf-8")))) == 2


HOSTILE = '"><img src=x onerror="window.__x=1"><script>alert(1)</script>'
# what a page may load: src/href of script, link, img, and url() in its inline styles
RESOURCE = re.compile(
    r"<(?:script|link|img)\b[^>]*?\b(?:src|href)=[\"']([^\"']*)[\"']|url\(\s*[\"']?([^\"')]*)",
    re.IGNORECASE,
)


@pytest.mark.unit
def test_docs_sample_treatment_follows_the_classification():
    from tierflow.masking import CONSOLE_CLEARANCE, Mask, docs_sample_treatment

    for ds in catalog().datasets:
        for col in ds.columns:
            expected = None if col.level <= CONSOLE_CLEARANCE else Mask.withhold
            assert docs_sample_treatment(col) == expected, (ds.id, col.name, col.level)


@pytest.mark.unit
@pytest.mark.slow
def test_data_docs_escape_every_value_and_load_nothing_from_outside(tmp_path):
    from pathlib import Path

    import great_expectations

    from tierflow.masking import docs_sample_treatment
    from tierflow.ui import assets

    ds = catalog().dataset("psb.household")
    good = GOOD_ROWS[ds.id]
    rows = [good] + [
        good | {c.name: f"{HOSTILE}#{c.name}#"} for c in ds.columns if c.type == ColumnType.string
    ]
    rows.append(good | {"status": "<b>" + "x" * 5000 + "</b>"})
    result = suites.run_suite(ds, table_of(ds, rows).to_pandas())
    index = suites.build_data_docs(result, tmp_path / "docs")
    pages = sorted(index.parent.rglob("*.html"))
    assert len(pages) == 3  # index, the suite, the validation
    served = {
        "static/vendor/": assets.VENDOR,
        "static/": Path(great_expectations.__file__).parent / "render" / "view" / "static",
    }
    shown = set()
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "<img src=x" not in html and "<script>alert" not in html, page
        shown |= {c.name for c in ds.columns if f"#{c.name}#" in html}
        for match in RESOURCE.finditer(html):
            url = match.group(1) or match.group(2)
            if not url or url.startswith(("data:", "#")):
                continue
            assert "//" not in url and ":" not in url, (page.name, url)  # relative, no scheme
            target = (page.parent / url).resolve().relative_to(index.parent.resolve()).as_posix()
            prefix = next(p for p in served if target.startswith(p))
            assert (served[prefix] / target.removeprefix(prefix)).is_file(), target
            assert (page.parent / url).is_file(), url  # the folder renders as files too
        assert "dataContextId" not in html and "amazonaws" not in html
    validation = next(p for p in pages if "validations" in p.parts).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in validation  # shown, as text
    # long values cut to SAMPLE_CHARS before escaping
    assert "&lt;b&gt;" + "x" * 197 + "…" in validation and "x" * 198 not in validation
    # exactly the level-1/2 columns show their failing values
    failing = {c.name for c in ds.columns if c.type == ColumnType.string}
    assert shown == {c for c in failing if docs_sample_treatment(ds.column(c)) is None}
