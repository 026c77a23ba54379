"""Merge into the foundational libraries, on generated extracts and crafted second deliveries.

Each test gets its own freshly migrated database (0.5 s) so that the counts it asserts are
exactly the deliveries it ingested, whatever other test modules load into the shared one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.conftest import migrated_database
from tierflow.generate import generate
from tierflow.identifiers import id_check_char
from tierflow.ingest.pipeline import ingest_file
from tierflow.merge.run import STEPS, MergeInterrupted, merge_library
from tierflow.merge.survivorship import SurvivorshipError, load_rules, load_rules_file

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.postgres]

BROKEN = Path(__file__).parents[1] / "broken_survivorship"
AS_OF = dt.date(2026, 3, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")  # a timestamp without offset is Shanghai time (design §5)
LATER = "2026-03-02T10:00:00"  # after every generated updated_at (as_of 2026-03-01)
ENCODINGS = {"nhc.vital_event": "gb18030", "hrss.social_insurance": "utf-8-sig"}
LIBRARY_TABLES = ("person", "legal_entity", "land_parcel", "address", "e_license")
PERSON_WITH_DETAIL = (
    "select *, library.provenance_detail(provenance) as detail"
    " from library.person where id_number = :k"
)


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("merge-extracts")
    summary = generate(
        out=out,
        scale=1500,
        seed=31,
        defect_rate=0.0,
        as_of=AS_OF,
        datasets=[
            "psb.household",
            "nhc.vital_event",
            "hrss.social_insurance",
            "samr.enterprise",
            "mca.social_org",
            "tax.taxpayer",
            "mnr.land_parcel",
            "mnr.address",
            "lic.issuance",
        ],
    )
    return {f["dataset"]: Path(f["path"]) for f in summary["files"]}


@pytest.fixture()
def wh(data_root: Path) -> Iterator[sa.Engine]:
    with migrated_database("tierflow_merge") as engine:
        yield engine


def ingest(wh: sa.Engine, path: Path, dataset: str) -> dict:
    result = ingest_file(path, dataset, eng=wh, run_gx=False)
    assert result["rows_quarantined"] == 0, result
    return result


def read_csv(path: Path, dataset: str) -> pd.DataFrame:
    return pd.read_csv(
        path, dtype=str, keep_default_na=False, encoding=ENCODINGS.get(dataset, "utf-8")
    )


def write_delivery(frame: pd.DataFrame, root: Path, dataset: str, name: str) -> Path:
    department, dataset_name = dataset.split(".")
    path = root / "landing" / department / dataset_name / "2026-03-02" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def rows(wh: sa.Engine, sql: str, **params) -> list[dict]:
    with wh.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


def scalar(wh: sa.Engine, sql: str, **params):
    with wh.connect() as conn:
        return conn.scalar(sa.text(sql), params)


def checksums(wh: sa.Engine) -> dict[str, str]:
    out = {}
    for table in (*LIBRARY_TABLES, *(f"{t}_history" for t in LIBRARY_TABLES)):
        out[table] = scalar(
            wh,
            f"select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from library.{table} t",
        )
    for table in ("conflict", "orphan"):
        out[table] = scalar(wh, f"select count(*) from quality.{table}")
    return out


def load_person_pools(wh: sa.Engine, extracts: dict[str, Path]) -> dict[str, dict]:
    return {
        ds: ingest(wh, extracts[ds], ds)
        for ds in ("psb.household", "nhc.vital_event", "hrss.social_insurance")
    }


def deaths(extracts: dict[str, Path]) -> pd.DataFrame:
    vital = read_csv(extracts["nhc.vital_event"], "nhc.vital_event")
    household = read_csv(extracts["psb.household"], "psb.household")
    dead = vital[(vital.event_type == "death") & vital.id_number.isin(household.id_number)]
    # a person may have several death events (corrections): the latest updated_at counts
    dead = dead.sort_values(["updated_at", "event_id"]).drop_duplicates("id_number", keep="last")
    assert len(dead) >= 3, "the generator should produce some deaths at this scale"
    return dead


def test_golden_person_records_with_provenance_from_every_source(wh, extracts):
    loaded = load_person_pools(wh, extracts)
    result = merge_library("person", eng=wh)
    household = read_csv(extracts["psb.household"], "psb.household")
    insurance = read_csv(extracts["hrss.social_insurance"], "hrss.social_insurance")

    pool_rows = sum(r["rows_accepted"] - r["rows_superseded"] for r in loaded.values())
    assert result["rows_in"] == pool_rows
    assert result["inserted"] == result["library_rows"] >= len(household)
    assert result["updated"] == result["unchanged"] == 0
    assert result["history_rows"] == result["inserted"]
    for key in ("conflicts", "orphans", "seconds"):
        assert key in result
    assert list(result["step_seconds"]) == list(STEPS)
    assert 0 < sum(result["step_seconds"].values()) <= result["seconds"]

    sample = household.iloc[7]
    person = rows(wh, PERSON_WITH_DETAIL, k=sample.id_number)[0]
    assert (person["name"], person["address"], person["gender"]) == (
        sample["name"],
        sample.address or None,
        sample.gender,
    )
    # stored compactly (field -> delivery id), expanded by library.provenance_detail
    assert person["provenance"]["name"] == loaded["psb.household"]["delivery_id"]
    name_source = person["detail"]["name"]
    assert name_source["dataset"] == "psb.household"
    assert name_source["delivery_id"] == loaded["psb.household"]["delivery_id"]
    assert name_source["file"] == str(extracts["psb.household"])

    # phone, employer and insurance status come from social insurance, with its provenance
    insured = insurance[insurance.id_number.isin(household.id_number) & (insurance.phone != "")]
    row = insured.iloc[0]
    person = rows(wh, PERSON_WITH_DETAIL, k=row.id_number)[0]
    assert (person["phone"], person["insurance_status"]) == (row.phone, row.status)
    assert person["employer_uscc"] == (row.employer_uscc or None)
    assert person["detail"]["phone"]["dataset"] == "hrss.social_insurance"
    # a first load writes no history: each record's current version is its library row
    assert result["history_closed"] == 0
    assert scalar(wh, "select count(*) from library.person_history") == 0


def test_death_events_make_the_person_deceased_never_deleted(wh, extracts):
    load_person_pools(wh, extracts)
    merge_library("person", eng=wh)
    dead = deaths(extracts)
    got = {
        r["id_number"]: r
        for r in rows(
            wh,
            "select id_number, status, death_date, library.provenance_detail(provenance) as detail"
            " from library.person"
            " where id_number = any(:ids)",
            ids=list(dead.id_number),
        )
    }
    assert len(got) == dead.id_number.nunique()
    for event in dead.itertuples():
        person = got[event.id_number]
        assert person["status"] == "deceased"
        assert person["death_date"].isoformat() == event.event_date
        assert person["detail"]["status"]["dataset"] == "nhc.vital_event"


def test_priority_a_later_household_status_does_not_revive_the_dead(wh, extracts, data_root):
    load_person_pools(wh, extracts)
    merge_library("person", eng=wh)
    dead = deaths(extracts).head(3)
    household = read_csv(extracts["psb.household"], "psb.household")
    again = household[household.id_number.isin(dead.id_number)].assign(
        status="normal", updated_at=LATER
    )
    ingest(wh, write_delivery(again, data_root, "psb.household", "revive"), "psb.household")
    result = merge_library("person", eng=wh)
    statuses = rows(
        wh,
        "select status, library.provenance_detail(provenance) -> 'status' ->> 'dataset' as source"
        " from library.person"
        " where id_number = any(:ids)",
        ids=list(dead.id_number),
    )
    assert statuses == [{"status": "deceased", "source": "nhc.vital_event"}] * 3
    # the disagreement is logged with both values and sources
    logged = rows(
        wh,
        "select * from quality.conflict where field = 'status' and key = any(:ids)",
        ids=list(dead.id_number),
    )
    assert {
        (c["kept_value"], c["kept_source"], c["other_value"], c["other_source"]) for c in logged
    } == {("deceased", "nhc.vital_event", "normal", "psb.household")}
    assert len(logged) == 3
    assert result["unchanged"] == 3 and result["updated"] == 0


def test_recency_the_latest_source_wins_the_division_code(wh, extracts, data_root):
    load_person_pools(wh, extracts)
    merge_library("person", eng=wh)
    household = read_csv(extracts["psb.household"], "psb.household")
    registered_at = household.set_index("id_number").updated_at
    dead = deaths(extracts)
    # a death reported after the household record: the event is the more recent source
    event = dead[dead.updated_at > dead.id_number.map(registered_at)].iloc[0]
    mine = household[household.id_number == event.id_number]
    before = rows(
        wh,
        "select division_code, library.provenance_detail(provenance) as detail"
        " from library.person where id_number = :k",
        k=event.id_number,
    )[0]
    assert before["division_code"] == event.division_code
    assert before["detail"]["division_code"]["dataset"] == "nhc.vital_event"
    moved = "500103001001" if event.division_code != "500103001001" else "500104001001"
    again = mine.assign(division_code=moved, updated_at=LATER)
    ingest(wh, write_delivery(again, data_root, "psb.household", "moved"), "psb.household")
    merge_library("person", eng=wh)
    after = rows(
        wh,
        "select division_code, library.provenance_detail(provenance) as detail"
        " from library.person where id_number = :k",
        k=event.id_number,
    )[0]
    assert after["division_code"] == moved
    assert after["detail"]["division_code"]["dataset"] == "psb.household"


def test_history_on_change_and_non_empty_wins(wh, extracts, data_root):
    load_person_pools(wh, extracts)
    first = merge_library("person", eng=wh)
    household = read_csv(extracts["psb.household"], "psb.household")
    living = household[household.status == "normal"].iloc[:20]
    changed = living.iloc[:10].assign(
        address=lambda f: f.address.where(f.address == "", "新地址") + "一号", updated_at=LATER
    )
    emptied = living.iloc[10:].assign(address="", updated_at=LATER)
    emptied = emptied[living.iloc[10:].address != ""]
    delivery = pd.concat([changed, emptied])
    second_delivery = ingest(
        wh, write_delivery(delivery, data_root, "psb.household", "moves"), "psb.household"
    )
    merged_at_before = scalar(wh, "select now()")
    result = merge_library("person", eng=wh)
    assert result["rows_in"] == len(delivery)
    assert (result["inserted"], result["updated"]) == (0, 10)
    assert result["unchanged"] == len(emptied)
    assert result["history_rows"] == result["history_closed"] == 10
    assert result["library_rows"] == first["library_rows"]

    for row in changed.itertuples():
        # the closed version in the history, the current one is the library row
        versions = rows(
            wh,
            "select address, valid_from, valid_to, provenance from library.person_history"
            " where id_number = :k union all select address, changed_at, null, provenance"
            " from library.person where id_number = :k order by valid_from",
            k=row.id_number,
        )
        assert len(versions) == 2
        assert (
            scalar(
                wh,
                "select count(*) from library.person_history where id_number = :k",
                k=row.id_number,
            )
            == 1
        )
        old, new = versions
        assert old["address"] == (household.set_index("id_number").address[row.id_number] or None)
        assert old["valid_to"] == new["valid_from"] >= merged_at_before
        assert new["valid_to"] is None and new["address"] == row.address
        assert new["provenance"]["address"] == second_delivery["delivery_id"]
    # an empty value never overwrites: address and its provenance stay, nothing in history
    for row in emptied.itertuples():
        person = rows(
            wh,
            "select address, provenance from library.person where id_number = :k",
            k=row.id_number,
        )[0]
        assert person["address"] == household.set_index("id_number").address[row.id_number]
        assert person["provenance"]["address"] != second_delivery["delivery_id"]
        assert (
            scalar(
                wh,
                "select count(*) from library.person_history where id_number = :k",
                k=row.id_number,
            )
            == 0
        )


def test_re_merge_is_a_no_op(wh, extracts):
    load_person_pools(wh, extracts)
    for dataset in (
        "samr.enterprise",
        "mca.social_org",
        "tax.taxpayer",
        "mnr.land_parcel",
        "mnr.address",
        "lic.issuance",
    ):
        ingest(wh, extracts[dataset], dataset)
    libraries = ("person", "legal_entity", "geospatial", "e_license")
    first = {lib: merge_library(lib, eng=wh) for lib in libraries}
    before = checksums(wh)
    for lib in libraries:
        again = merge_library(lib, eng=wh)  # same pool state, watermark already past it
        assert (again["rows_in"], again["inserted"], again["updated"], again["history_rows"]) == (
            0,
            0,
            0,
            0,
        )
        assert again["library_rows"] == first[lib]["library_rows"]
        full = merge_library(lib, eng=wh, full=True)  # every key recomputed: still nothing to write
        assert (full["inserted"], full["updated"], full["history_rows"], full["conflicts"]) == (
            0,
            0,
            0,
            0,
        )
        assert full["unchanged"] == first[lib]["library_rows"]
    assert checksums(wh) == before
    geo = first["geospatial"]
    assert set(geo["tables"]) == {"land_parcel", "address"}
    assert geo["inserted"] == sum(t["inserted"] for t in geo["tables"].values())
    assert geo["library_rows"] == (
        scalar(wh, "select count(*) from library.land_parcel")
        + scalar(wh, "select count(*) from library.address")
    )


def test_derived_facts_from_the_uscc_and_the_id_number(wh, extracts, data_root):
    for dataset in ("samr.enterprise", "mca.social_org", "tax.taxpayer"):
        ingest(wh, extracts[dataset], dataset)
    merge_library("legal_entity", eng=wh)
    wrong = scalar(
        wh,
        "select count(*) from library.legal_entity where entity_kind is distinct from substr(uscc, 1, 2)"
        " or registration_district is distinct from substr(uscc, 3, 6)",
    )
    assert wrong == 0
    assert scalar(wh, "select count(*) from library.legal_entity") > 0
    # tax status and credit grade come from tax, which does not create entities on its own
    taxed = scalar(wh, "select count(*) from library.legal_entity where tax_status is not null")
    assert taxed > 0

    # a newborn known only from a birth event: birth date from the event, gender from the ID
    first17 = "50010320260210" + "123"  # sequence 123: odd 17th digit = male
    newborn = first17 + id_check_char(first17)
    event = pd.DataFrame(
        [
            {
                "event_id": "VE20260210999999",
                "id_number": newborn,
                "event_type": "birth",
                "event_date": "2026-02-10",
                "division_code": "500103001001",
                "updated_at": "2026-02-11T09:00:00",
            }
        ]
    )
    ingest(wh, write_delivery(event, data_root, "nhc.vital_event", "birth"), "nhc.vital_event")
    merge_library("person", eng=wh)
    person = rows(wh, PERSON_WITH_DETAIL, k=newborn)[0]
    assert person["birth_date"] == dt.date(2026, 2, 10)
    assert person["detail"]["birth_date"]["dataset"] == "nhc.vital_event"
    assert person["gender"] == "1"
    assert person["provenance"]["gender"] == {"derived_from": "id_number"}


def test_orphans_are_flagged_per_delivery_and_cleared_when_resolved(wh, extracts):
    # enterprises whose legal representatives are not (yet) in library.person
    enterprises = ingest(wh, extracts["samr.enterprise"], "samr.enterprise")
    result = merge_library("legal_entity", eng=wh)
    library_rows = result["library_rows"]
    assert result["orphans"] == library_rows > 0  # flagged, not dropped
    assert result["orphans_by_delivery"] == {str(enterprises["delivery_id"]): library_rows}
    flags = rows(wh, "select * from quality.orphan where library = 'legal_entity'")
    assert len(flags) == library_rows
    assert {f["relation"] for f in flags} == {"legal_rep"}
    assert {f["delivery_id"] for f in flags} == {enterprises["delivery_id"]}
    sample = flags[0]
    rep = scalar(
        wh, "select legal_rep_id_number from library.legal_entity where uscc = :k", k=sample["key"]
    )
    assert sample["missing_key"] == rep

    # licences: holders are checked against person or legal_entity by holder_kind
    ingest(wh, extracts["lic.issuance"], "lic.issuance")
    licences = merge_library("e_license", eng=wh)
    person_held = scalar(wh, "select count(*) from library.e_license where holder_kind = 'person'")
    assert licences["orphans"] >= person_held > 0
    relations = {
        r["relation"]
        for r in rows(wh, "select relation from quality.orphan where library = 'e_license'")
    }
    assert "holder_person" in relations

    # once the persons are merged, the flags pointing at them clear
    ingest(wh, extracts["psb.household"], "psb.household")
    merge_library("person", eng=wh)
    still = scalar(
        wh, "select count(*) from quality.orphan where relation in ('legal_rep', 'holder_person')"
    )
    missing = scalar(
        wh,
        "select count(*) from library.legal_entity e where not exists"
        " (select 1 from library.person p where p.id_number = e.legal_rep_id_number)",
    )
    assert missing < library_rows
    assert still == missing + scalar(
        wh,
        "select count(*) from library.e_license l where holder_kind = 'person' and not exists"
        " (select 1 from library.person p where p.id_number = l.holder_id)",
    )


def test_conflicts_are_logged_once(wh, extracts, data_root):
    load_person_pools(wh, extracts)
    first = merge_library("person", eng=wh)
    assert first["conflicts"] > 0  # e.g. the place of death differs from the household record
    logged = scalar(wh, "select count(*) from quality.conflict")
    assert logged == first["conflicts"]
    assert merge_library("person", eng=wh, full=True)["conflicts"] == 0
    # a new delivery repeating the same disagreement does not log it again
    household = read_csv(extracts["psb.household"], "psb.household")
    again = household[household.id_number.isin(deaths(extracts).id_number)].assign(
        updated_at="2026-01-01T00:00:00"
    )
    ingest(wh, write_delivery(again, data_root, "psb.household", "repeat"), "psb.household")
    assert merge_library("person", eng=wh)["conflicts"] == 0
    assert scalar(wh, "select count(*) from quality.conflict") == logged
    duplicates = scalar(
        wh,
        "select count(*) from (select 1 from quality.conflict group by key, field, kept_value,"
        " other_value having count(*) > 1) d",
    )
    assert duplicates == 0


def test_large_merges_write_in_key_order_with_the_same_result(wh, extracts, monkeypatch):
    """Past shared buffers the merge writes in key order; the records are the same."""
    from tierflow.merge import run
    from tierflow.merge.plan import TablePlan

    load_person_pools(wh, extracts)
    orders = []
    upsert = TablePlan.upsert

    def spy(self, *, key_order=False):
        statement = upsert(self, key_order=key_order)
        orders.append((key_order, 'order by "id_number"' in statement))
        return statement

    monkeypatch.setattr(TablePlan, "upsert", spy)
    monkeypatch.setattr(run, "INDEX_BYTES_PER_KEY", 1 << 40)  # every merge "outgrows" buffers
    result = merge_library("person", eng=wh)
    assert orders == [(True, True)]
    household = read_csv(extracts["psb.household"], "psb.household")
    assert result["inserted"] == result["library_rows"] >= len(household)
    assert result["history_rows"] == result["inserted"]
    sample = household.iloc[3]
    person = rows(wh, PERSON_WITH_DETAIL, k=sample.id_number)[0]
    assert person["name"] == sample["name"]
    assert person["detail"]["name"]["dataset"] == "psb.household"


INDEX_DEFINITIONS = """
    select tablename, indexname, indexdef from pg_indexes
    where schemaname = 'library' and tablename in ('person', 'person_history')
    order by indexname
"""


def test_a_bulk_load_builds_the_indexes_after_writing_the_same_records(
    wh, extracts, data_root, monkeypatch
):
    """A first load sets the library's indexes aside and builds them again, exactly as they were."""
    from tierflow.merge import indexes

    load_person_pools(wh, extracts)
    before = rows(wh, INDEX_DEFINITIONS)
    assert len(before) == 4  # the library's key; the history's key, feed and opened
    set_aside = []
    real = indexes.set_aside

    def spy(conn, tables):
        set_aside.append(tables)
        return real(conn, tables)

    monkeypatch.setattr(indexes, "BULK_MIN_ROWS", 1)
    monkeypatch.setattr(indexes, "set_aside", spy)
    with pytest.raises(MergeInterrupted):  # a failed bulk merge leaves the indexes as they were
        merge_library("person", eng=wh, fail_after="upsert")
    assert rows(wh, INDEX_DEFINITIONS) == before
    result = merge_library("person", eng=wh)
    assert set_aside[-1] == ['library."person"']  # the history gets no row of a first load
    assert rows(wh, INDEX_DEFINITIONS) == before
    household = read_csv(extracts["psb.household"], "psb.household")
    assert result["inserted"] == result["library_rows"] == result["history_rows"]
    assert result["history_closed"] == 0
    assert result["inserted"] >= len(household)
    sample = household.iloc[5]
    person = rows(wh, PERSON_WITH_DETAIL, k=sample.id_number)[0]
    assert person["name"] == sample["name"]
    assert person["detail"]["name"]["dataset"] == "psb.household"
    # A small change to a full library is not a bulk load: indexes stay, updates use them.
    calls = len(set_aside)
    changed = household.iloc[:10].assign(address="重庆市渝中区解放碑一号", updated_at=LATER)
    ingest(wh, write_delivery(changed, data_root, "psb.household", "change"), "psb.household")
    again = merge_library("person", eng=wh)
    assert len(set_aside) == calls
    assert again["updated"] == 10 and again["history_closed"] == 10
    assert rows(wh, INDEX_DEFINITIONS) == before


def work_tables(engine: sa.Engine) -> int:
    return scalar(engine, "select count(*) from pg_tables where schemaname = 'merge_work'")


@pytest.mark.parametrize(
    "step", ["touched_keys", "golden", "upsert", "conflicts", "orphans", "advance_watermark"]
)
def test_a_merge_failing_mid_way_leaves_the_library_as_it_was(wh, extracts, data_root, step):
    load_person_pools(wh, extracts)
    ingest(wh, extracts["samr.enterprise"], "samr.enterprise")
    merge_library("person", eng=wh)
    household = read_csv(extracts["psb.household"], "psb.household")
    changed = household.iloc[:25].assign(address="重庆市渝中区解放碑一号", updated_at=LATER)
    ingest(wh, write_delivery(changed, data_root, "psb.household", "change"), "psb.household")
    before = checksums(wh)
    watermark = rows(wh, "select * from library.merge_watermark order by dataset")
    with pytest.raises(MergeInterrupted, match=step):
        merge_library("person", eng=wh, fail_after=step)
    assert checksums(wh) == before
    assert rows(wh, "select * from library.merge_watermark order by dataset") == watermark
    with pytest.raises(MergeInterrupted):
        merge_library("legal_entity", eng=wh, fail_after="orphans")
    assert checksums(wh) == before
    assert work_tables(wh) == 0  # created inside the merge's transaction, gone with it
    # the same deliveries merge cleanly afterwards
    result = merge_library("person", eng=wh)
    assert result["updated"] == 25 and result["history_closed"] == 25
    assert work_tables(wh) == 0  # dropped before commit


def test_fail_after_names_a_known_step():
    assert STEPS[0] == "watermark"
    with pytest.raises(ValueError, match="fail_after must be one of"):
        merge_library("person", fail_after="nope")


@pytest.mark.unit
def test_the_project_rules_load_and_cover_every_library():
    for library in ("person", "legal_entity", "geospatial", "e_license"):
        assert load_rules(library).library == library
    assert set(load_rules("geospatial").tables) == {"land_parcel", "address"}


def _broken_cases() -> list[Path]:
    return sorted(BROKEN.glob("*.yaml"))


@pytest.mark.unit
@pytest.mark.parametrize("path", _broken_cases(), ids=lambda p: p.stem)
def test_broken_survivorship_file_is_rejected_with_a_clear_message(path):
    expected = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect:").strip()
    with pytest.raises(SurvivorshipError) as excinfo:
        load_rules_file(path, check_name=False)
    message = str(excinfo.value)
    assert message.startswith(path.name), message
    assert expected in message, message
    assert "\n" not in message


@pytest.mark.unit
def test_there_are_enough_broken_survivorship_cases():
    assert len(_broken_cases()) >= 10
