"""``tierflow generate``: determinism, layout, realism, joins and an exact ground truth.

The ground-truth test re-checks every written row with an independent, plain-Python
reading of the contract (after the repairs the ingest normaliser must make) and
requires the set of rules each row breaks to be exactly what the ground truth says.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from tests import plain_identifiers as plain
from tierflow.checks.rules import rules_for
from tierflow.contracts import ColumnType, Dataset, PairRule, Semantic, catalog
from tierflow.generate import SPECS, defect_classes, generate
from tierflow.geo import CITY_BOX, district_boundaries, locate_points
from tierflow.identifiers import (
    citizen_id_parts,
    citizen_id_valid_mask,
    is_valid_uscc,
    uscc_valid_mask,
)

pytestmark = pytest.mark.unit

AS_OF = dt.date(2026, 3, 1)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
TOWNSHIPS_CSV = (
    Path(__file__).resolve().parents[2] / "schemas" / "reference" / "chongqing_townships.csv"
)


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("gen")
    return generate(out, scale=2000, seed=11, defect_rate=0.25, as_of=AS_OF)


# --- reading what was written -----------------------------------------------------------------


def read_rows(
    path: Path, fmt: str, encoding: str | None, names: list[str]
) -> list[list[str | None] | None]:
    """Data rows as text (None = null); None for a ragged CSV line."""
    if fmt == "parquet":
        table = pq.read_table(path)
        rows = []
        for rec in table.to_pylist():
            rows.append([_parquet_text(rec[n]) for n in names])
        return rows
    raw = path.read_bytes()
    if fmt == "jsonl":
        out = []
        for line in raw.decode("utf-8").splitlines():
            obj = json.loads(line)
            assert list(obj) == names
            assert all(v is None or isinstance(v, str) for v in obj.values())
            out.append([obj[n] for n in names])
        return out
    text = raw.decode({"utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gb18030": "gb18030"}[encoding])
    reader = csv.reader(io.StringIO(text, newline=""))
    assert next(reader) == names
    return [None if len(r) != len(names) else [v if v != "" else None for v in r] for r in reader]


def _parquet_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(SHANGHAI).replace(tzinfo=None).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def normalised(col, value: str | None) -> str | None:
    """What the ingest normaliser is expected to do before checking."""
    if value is None:
        return None
    value = unicodedata.normalize("NFKC", value).strip()
    if col.semantic == Semantic.citizen_id:
        value = value.upper()
    if col.type == ColumnType.timestamp:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if parsed.tzinfo is not None:
            value = parsed.astimezone(SHANGHAI).replace(tzinfo=None).isoformat()
    return value or None


def _parse(col, value: str):
    if col.type == ColumnType.date:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    if col.type == ColumnType.timestamp:
        return dt.datetime.fromisoformat(value)
    if col.type == ColumnType.integer:
        return int(value)
    if col.type == ColumnType.decimal:
        if not re.fullmatch(r"-?\d+(\.\d+)?", value):
            raise ValueError(value)
        return float(value)
    return value


def violations(ds: Dataset, row: list[str | None], known_districts: set[str]) -> set[str]:
    """Rule ids a (normalised) row breaks: an independent reading of the contract."""
    found: set[str] = set()
    values = {c.name: v for c, v in zip(ds.columns, row, strict=True)}
    parsed: dict[str, object] = {}
    end_of_day = dt.datetime.combine(AS_OF, dt.time(23, 59, 59))
    for col in ds.columns:
        value = values[col.name]
        if value is None:
            if not col.nullable:
                found.add(f"{col.name}:not_null")
            continue
        try:
            parsed[col.name] = _parse(col, value)
        except ValueError:
            found.add(f"{col.name}:parse")
            continue
        p = parsed[col.name]
        if col.enum and value not in col.enum:
            found.add(f"{col.name}:in_set")
        if col.pattern and not re.search(col.pattern, value):
            found.add(f"{col.name}:pattern")
        if col.max_length and col.type == ColumnType.string and len(value) > col.max_length:
            found.add(f"{col.name}:max_length")
        if (col.min is not None and p < col.min) or (col.max is not None and p > col.max):
            found.add(f"{col.name}:range")
        if col.not_future:
            later = p > end_of_day if isinstance(p, dt.datetime) else p > AS_OF
            if later:
                found.add(f"{col.name}:not_future")
        if col.semantic == Semantic.citizen_id:
            found |= {f"{col.name}:citizen_id:{f}" for f in plain.citizen_id_faults(value, AS_OF)}
        if col.semantic == Semantic.uscc:
            found |= {f"{col.name}:uscc:{f}" for f in plain.uscc_faults(value)}
        if col.semantic == Semantic.division_code and not (
            re.fullmatch(r"\d{12}", value)
            and value[:6] in known_districts
            and "001" <= value[6:9] <= "599"
            and "001" <= value[9:] <= "599"
        ):
            found.add(f"{col.name}:division_code")
        if col.semantic == Semantic.wkt_polygon:
            try:
                geom = shapely.from_wkt(value)
                ok = geom.geom_type == "Polygon" and geom.is_valid and CITY_BOX.contains(geom)
            except shapely.errors.GEOSException:
                ok = False
            if not ok:
                found.add(f"{col.name}:wkt_polygon")
    for check in ds.checks:
        a, b = check.columns
        rule = f"{a}:{check.rule.value}"
        if a not in parsed or b not in parsed or values[a] is None or values[b] is None:
            continue
        col_a, col_b = ds.column(a), ds.column(b)
        if (col_a.enum and values[a] not in col_a.enum) or (
            col_b.enum and values[b] not in col_b.enum
        ):
            continue
        if check.rule in (PairRule.birth_date_matches_id, PairRule.gender_matches_id):
            if plain.citizen_id_faults(values[b], AS_OF):
                continue
            id_number = values[b]
            if check.rule == PairRule.birth_date_matches_id:
                ok = values[a] == f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
            else:
                ok = values[a] == ("1" if int(id_number[16]) % 2 else "2")
        elif check.rule == PairRule.not_before:
            ok = parsed[a] >= parsed[b]
        elif check.rule == PairRule.holder_id_matches_kind:
            is_id = not plain.citizen_id_faults(values[a], AS_OF)
            is_uscc = not plain.uscc_faults(values[a])
            ok = not (
                (values[b] == "person" and is_uscc and not is_id)
                or (values[b] == "entity" and is_id)
            )
        else:  # in_city_box
            ok = CITY_BOX.covers(shapely.Point(parsed[a], parsed[b]))
        if not ok:
            found.add(rule)
    return found


def load(run: dict, dataset: str) -> tuple[Dataset, list, dict]:
    ds = catalog().dataset(dataset)
    info = next(f for f in run["files"] if f["dataset"] == dataset)
    rows = read_rows(
        Path(info["path"]), info["format"], info["encoding"], [c.name for c in ds.columns]
    )
    return ds, rows, info


def truth(run: dict) -> list[dict]:
    return pq.read_table(run["ground_truth"]).to_pylist()


def clean_rows(run: dict, dataset: str) -> tuple[Dataset, list[list[str | None]]]:
    """Rows with no ground-truth entry at all (not defective, not normalised, not a copy)."""
    ds, rows, _ = load(run, dataset)
    marked = {t["row_number"] for t in truth(run) if t["dataset"] == dataset}
    return ds, [r for i, r in enumerate(rows, start=1) if i not in marked]


# --- tests --------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", scale=600, seed=3, defect_rate=0.1, as_of=AS_OF)
    generate(tmp_path / "b", scale=600, seed=3, defect_rate=0.1, as_of=AS_OF)
    generate(tmp_path / "c", scale=600, seed=4, defect_rate=0.1, as_of=AS_OF)
    ha, hb, hc = (_tree_hashes(tmp_path / d) for d in "abc")
    assert ha == hb
    assert set(ha) == set(hc)
    assert all(ha[k] != hc[k] for k in ha if not k.endswith(".ready"))
    assert a["ground_truth_rows"] > 0


def test_layout_formats_and_markers(run: dict) -> None:
    root = Path(run["out"])
    assert sorted(p.name for p in root.iterdir()) == ["_ground_truth.parquet", "landing"]
    assert {f["dataset"] for f in run["files"]} == set(SPECS)
    for f in run["files"]:
        path = Path(f["path"])
        ds = catalog().dataset(f["dataset"])
        department, name = ds.department_dataset
        assert path.relative_to(root).parts == (
            "landing",
            department,
            name,
            AS_OF.isoformat(),
            path.name,
        )
        assert path.with_name(path.name + ".ready").exists()
        assert f["format"] == SPECS[f["dataset"]].fmt
        assert f["rows"] >= 20
    assert sorted(
        p.name
        for p in (root / "landing").rglob("*")
        if p.is_file() and not p.name.endswith(".ready")
    ) == sorted(Path(f["path"]).name for f in run["files"])
    household = next(f for f in run["files"] if f["dataset"] == "psb.household")
    assert household["rows"] >= 2000


def test_encodings_decode(run: dict) -> None:
    vital = Path(next(f["path"] for f in run["files"] if f["dataset"] == "nhc.vital_event"))
    # vital events carry no Chinese columns: only full-width normalisation cases are non-ASCII
    assert vital.read_bytes().decode("gb18030").startswith("event_id,id_number,")
    insurance = Path(
        next(f["path"] for f in run["files"] if f["dataset"] == "hrss.social_insurance")
    )
    assert insurance.read_bytes().startswith(b"\xef\xbb\xbfid_number,")
    parquet = pq.read_schema(
        next(f["path"] for f in run["files"] if f["dataset"] == "gov.service_case")
    )
    assert parquet.field("accepted_at").type == pa.timestamp("us", tz="Asia/Shanghai")
    assert parquet.field("rating").type == pa.int64()


def test_ground_truth_is_exact(run: dict) -> None:
    """Each row breaks exactly the rules the ground truth says (none for clean rows)."""
    assert_exact(run)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_ground_truth_is_exact_in_every_format(tmp_path: Path, fmt: str) -> None:
    summary = generate(tmp_path, scale=1000, seed=11, defect_rate=0.3, as_of=AS_OF, fmt=fmt)
    assert {f["format"] for f in summary["files"]} == {fmt}
    assert_exact(summary)


def assert_exact(run: dict) -> None:
    known = {d.code for d in catalog().divisions.divisions}
    gt = truth(run)
    assert set(gt[0]) == {"dataset", "row_number", "key", "defect", "severity"}
    by_row = {(t["dataset"], t["row_number"]): t for t in gt}
    for f in run["files"]:
        ds, rows, info = load(run, f["dataset"])
        keys: dict[str, list[int]] = {}
        for number, row in enumerate(rows, start=1):
            entry = by_row.get((ds.id, number))
            if row is None:
                assert entry is not None and entry["defect"] == "_row:ragged", (ds.id, number)
                continue
            row = [normalised(c, v) for c, v in zip(ds.columns, row, strict=True)]
            found = violations(ds, row, known)
            label = entry["defect"] if entry else None
            if label in (None, "normalised", "superseded", "_row:ragged"):
                assert found == set(), (ds.id, number, label, found, row)
            else:
                assert found == {label}, (ds.id, number, label, found, row)
            key = "|".join(row[[c.name for c in ds.columns].index(k)] or "" for k in ds.key)
            keys.setdefault(key, []).append(number)
        for key, numbers in keys.items():
            if len(numbers) > 1:  # only superseded copies may repeat a key
                copies = [
                    n for n in numbers if by_row.get((ds.id, n), {}).get("defect") == "superseded"
                ]
                assert len(copies) == len(numbers) - 1, (ds.id, key, numbers)


def test_every_applicable_class_appears(run: dict) -> None:
    gt = truth(run)
    seen = Counter((t["dataset"], t["defect"]) for t in gt)
    for f in run["files"]:
        ds = catalog().dataset(f["dataset"])
        classes = defect_classes(ds, f["format"])
        injected = sum(run["defects"][ds.id].values())
        assert injected == round(0.25 * (f["rows"] - seen[(ds.id, "superseded")]))
        if injected >= len(classes):
            assert {c.rule for c in classes} <= {d for (name, d) in seen if name == ds.id}, ds.id
        assert seen[(ds.id, "superseded")] >= 1 and seen[(ds.id, "normalised")] >= 1
        for cls in classes:
            assert run["defects"][ds.id].get(cls.rule, 0) == seen[(ds.id, cls.rule)]
    severities = {
        (t["defect"], t["severity"]) for t in gt if t["dataset"] == "hrss.social_insurance"
    }
    assert ("phone:pattern", "warn") in severities
    assert ("superseded", "none") in severities
    assert ("id_number:citizen_id:check_char", "block") in severities


def test_every_reason_of_the_identifier_rules_is_a_defect_class() -> None:
    """Each fault an ID number or credit code can have is injected (and so proven caught)."""
    known = tuple(d.code for d in catalog().divisions.divisions)
    for ds in catalog().datasets:
        classes = {c.rule for c in defect_classes(ds, "csv")}
        for rule in rules_for(ds, known):
            if rule.kind in ("citizen_id", "uscc"):
                assert set(rule.reasons) <= classes, (ds.id, rule.rule_id)
    household = {c.rule for c in defect_classes(catalog().dataset("psb.household"), "csv")}
    assert {
        "id_number:citizen_id:date_not_calendar",
        "id_number:citizen_id:province_unknown",
        "id_number:citizen_id:internal_zone_code",
    } <= household
    # a future birth date can no longer fail alone: no valid ID encodes one
    assert "birth_date:not_future" not in household


def test_parse_and_ragged_only_in_text_formats() -> None:
    enterprise = catalog().dataset("samr.enterprise")
    assert not [c for c in defect_classes(enterprise, "parquet") if c.rule.endswith(":parse")]
    assert not [c for c in defect_classes(enterprise, "jsonl") if c.rule == "_row:ragged"]
    rules = {c.rule for c in defect_classes(enterprise, "csv")}
    assert {"established_on:parse", "registered_capital:parse", "_row:ragged"} <= rules
    assert "uscc:not_null" not in rules  # never a null key


def test_clean_identifiers_and_consistency(run: dict) -> None:
    ds, rows = clean_rows(run, "psb.household")
    ids = pa.array([r[0] for r in rows])
    assert citizen_id_valid_mask(ids).all()
    birth, gender = citizen_id_parts(ids)
    assert [b.isoformat() for b in birth.to_pylist()] == [r[4] for r in rows]
    assert gender.to_pylist() == [r[2] for r in rows]
    # the ID prefix is the person's district; a functional zone's residents carry the GB/T 2260
    # code of the zone's host district (design §4), and never an internal 5099xx code
    host = {d.code: d.host_district or d.code for d in catalog().divisions.divisions}
    assert all(r[0][:6] == host[r[5][:6]] for r in rows)
    in_zones = [r for r in rows if r[5].startswith("5099")]
    assert in_zones and {r[0][:6] for r in in_zones} == {"500112", "500107", "500110"}
    assert not [r for r in rows if r[0].startswith("5099")]
    assert all(r[4] <= AS_OF.isoformat() for r in rows)
    assert Counter(r[3] for r in rows).most_common(1)[0][0] == "01"
    recent = [dt.datetime.fromisoformat(r[8]) for r in rows]
    assert max(recent) <= dt.datetime.combine(AS_OF, dt.time(23, 59, 59))
    assert sum(
        x >= dt.datetime.combine(AS_OF - dt.timedelta(days=30), dt.time()) for x in recent
    ) > 0.8 * len(rows)
    _, firms = clean_rows(run, "samr.enterprise")
    assert uscc_valid_mask(pa.array([r[0] for r in firms])).all()
    assert all(r[0][0] == "9" and r[0][2:8] == host[r[8][:6]] for r in firms)
    assert [r for r in firms if r[8].startswith("5099")]  # zones' firms, with their host's code
    _, orgs = clean_rows(run, "mca.social_org")
    assert all(r[0][0] == "5" and is_valid_uscc(r[0]) and r[0][2:8] == host[r[5][:6]] for r in orgs)


def test_joins_hold(run: dict) -> None:
    people = {r[0] for r in load(run, "psb.household")[1] if r}
    names = {r[0]: r[1] for r in clean_rows(run, "psb.household")[1]}
    firms = {r[0] for r in load(run, "samr.enterprise")[1] if r} | {
        r[0] for r in load(run, "mca.social_org")[1] if r
    }
    for dataset, column in [("samr.enterprise", 4), ("mca.social_org", 4)]:
        _, rows = clean_rows(run, dataset)
        assert {r[column] for r in rows} <= people
        assert all(names.get(r[column], r[3]) == r[3] for r in rows)  # same person, same name
    assert {r[1] for r in clean_rows(run, "nhc.vital_event")[1]} <= people
    si = clean_rows(run, "hrss.social_insurance")[1]
    assert {r[0] for r in si} <= people and {r[1] for r in si if r[1]} <= firms
    assert {r[0] for r in clean_rows(run, "tax.taxpayer")[1]} <= firms
    for dataset, kind, ident in [("lic.issuance", 2, 3), ("gov.service_case", 2, 3)]:
        rows = clean_rows(run, dataset)[1]
        assert {r[ident] for r in rows if r[kind] == "person"} <= people
        assert {r[ident] for r in rows if r[kind] == "entity"} <= firms


def test_places_inside_their_district(run: dict) -> None:
    _, rows = clean_rows(run, "mnr.address")
    lon = np.array([float(r[3]) for r in rows])
    lat = np.array([float(r[4]) for r in rows])
    assert (locate_points(lon, lat) == np.array([r[2][:6] for r in rows])).all()
    cells = district_boundaries()
    for r in clean_rows(run, "mnr.land_parcel")[1]:
        parcel = shapely.from_wkt(r[3])
        assert parcel.is_valid and cells[r[4][:6]].contains(parcel)
        assert float(r[2]) == pytest.approx(parcel.area * 111_000 * 96_500, rel=0.1)
    _, points = clean_rows(run, "trans.truck_gps")
    tracks: dict[str, list] = {}
    for r in points:
        tracks.setdefault(r[0], []).append(r)
        assert 0 <= float(r[4]) <= 150 and 0 <= int(r[5]) <= 359
    assert all(p[0] in "渝川贵" for p in tracks)
    crossings = []
    for track in tracks.values():
        where = locate_points(
            np.array([float(r[2]) for r in track]), np.array([float(r[3]) for r in track])
        )
        assert (where != "").all()
        crossings.append(len(set(where)))
    assert max(crossings) >= 3


def test_format_and_encoding_overrides(tmp_path: Path) -> None:
    summary = generate(
        tmp_path,
        scale=300,
        seed=1,
        fmt="csv",
        encoding="gb18030",
        as_of=AS_OF,
        datasets=["samr.enterprise", "mnr.address"],
    )
    assert [f["dataset"] for f in summary["files"]] == ["samr.enterprise", "mnr.address"]
    for f in summary["files"]:
        assert f["path"].endswith(".csv") and f["encoding"] == "gb18030"
        raw = Path(f["path"]).read_bytes()
        assert "重庆" in raw.decode("gb18030")
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
    assert not (tmp_path / "landing" / "psb").exists()  # a dependency is generated, not written
    jsonl = generate(
        tmp_path / "j", scale=300, seed=1, fmt="jsonl", as_of=AS_OF, datasets=["psb.household"]
    )
    line = Path(jsonl["files"][0]["path"]).read_text(encoding="utf-8").splitlines()[0]
    assert set(json.loads(line)) == {c.name for c in catalog().dataset("psb.household").columns}
    with pytest.raises(ValueError):
        generate(tmp_path / "x", scale=10, seed=1, fmt="parquet", encoding="gb18030")


def test_real_township_codes(tmp_path: Path) -> None:
    # the official statistical table, kept in the repository (schemas/reference/)
    assert TOWNSHIPS_CSV.exists(), f"reference township table missing: {TOWNSHIPS_CSV}"
    real = {row["code"] for row in csv.DictReader(TOWNSHIPS_CSV.open(encoding="utf-8"))}
    summary = generate(
        tmp_path,
        scale=400,
        seed=2,
        as_of=AS_OF,
        townships_csv=TOWNSHIPS_CSV,
        datasets=["psb.household"],
    )
    rows = read_rows(
        Path(summary["files"][0]["path"]),
        "csv",
        "utf-8",
        [c.name for c in catalog().dataset("psb.household").columns],
    )
    codes = [r[5] for r in rows]
    in_real = [c[:9] in real for c in codes]
    assert sum(in_real) > 0.8 * len(codes)  # the functional zones keep generated townships
    assert all(c[:6].startswith("5099") for c, ok in zip(codes, in_real, strict=True) if not ok)
