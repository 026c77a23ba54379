"""Issue #13 item 5: ID numbers with impossible content are quarantined, never merged.

The three IDs of the report carry correct check characters, so only the content rule
(design §4, "checked to the letter") can catch them; each must be quarantined with a reason
naming the part that failed, in every pool that takes ID numbers, and none may reach
``library.person``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.conftest import create_database, drop_database
from tierflow import identifiers, migrate
from tierflow.ingest.pipeline import ingest_file
from tierflow.merge.run import merge_library

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.postgres


def cid(first17: str) -> str:
    return first17 + identifiers.id_check_char(first17)


# id -> (birth date as delivered, the reason it must be quarantined with)
REPORTED = {
    # Feb 30: Arrow's strptime rolled it over to 1990-03-02, so a delivery whose birth date
    # said 1990-03-02 "matched" and went into library.person
    "500103199002301231": ("1990-03-02", "id_number:citizen_id:date_not_calendar"),
    cid("99010119900101123"): ("1990-01-01", "id_number:citizen_id:province_unknown"),
    cid("50990119900101123"): ("1990-01-01", "id_number:citizen_id:internal_zone_code"),
}
# good rows in the same delivery: a 渝中区 resident, and a 两江新区 resident (division code of
# the zone, ID number with its host district 渝北区's code)
GOOD = {
    cid("50010319900302123"): ("1990-03-02", "500103001001"),
    cid("50011219850615234"): ("1985-06-15", "509901001001"),
}
HOUSEHOLD = "id_number,name,gender,ethnicity,birth_date,division_code,address,status,updated_at"
INSURANCE = "id_number,employer_uscc,insurance_type,status,phone,updated_at"


def _gender(id_number: str) -> str:
    return "1" if int(id_number[16]) % 2 else "2"


def _write(root: Path, dataset: str, header: str, lines: list[str]) -> Path:
    department, name = dataset.split(".")
    path = root / "landing" / department / name / "2026-11-30" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def wh(data_root: Path) -> Iterator[sa.Engine]:
    name, engine = create_database("tierflow_ids")
    migrate.upgrade(eng=engine)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(name)


def _quarantine_reasons(result: dict, wh: sa.Engine) -> dict[str, set[str]]:
    """id number -> reasons, from the Parquet file and from quality.quarantine (must agree)."""
    table = pq.read_table(result["quarantine"]).to_pylist()
    from_file = {r["id_number"]: set(r["_reasons"].split("; ")) for r in table}
    with wh.connect() as conn:
        stored = conn.execute(
            sa.text(
                "select raw ->> 'id_number', reasons from quality.quarantine where delivery_id = :d"
            ),
            {"d": result["delivery_id"]},
        ).all()
    assert {k: set(v) for k, v in stored} == from_file
    return from_file


def test_the_reported_ids_are_quarantined_with_their_rule_and_never_merged(wh, tmp_path):
    household = [
        f"{i},张三,{_gender(i)},01,{born},500103001001,渝中区解放碑街道,normal,2026-11-20T08:00:00"
        for i, (born, _) in REPORTED.items()
    ] + [
        f"{i},李四,{_gender(i)},01,{born},{division},某街道,normal,2026-11-20T08:00:00"
        for i, (born, division) in GOOD.items()
    ]
    result = ingest_file(
        _write(tmp_path, "psb.household", HOUSEHOLD, household), "psb.household", eng=wh
    )
    assert result["rows_in"] == result["rows_accepted"] + result["rows_quarantined"] == 5
    assert result["rows_quarantined"] == 3
    expected = {i: {reason} for i, (_, reason) in REPORTED.items()}
    assert _quarantine_reasons(result, wh) == expected
    with wh.connect() as conn:
        failed = dict(
            conn.execute(
                sa.text(
                    "select rule_id, failed from quality.expectation_result where delivery_id = :d"
                ),
                {"d": result["delivery_id"]},
            ).all()
        )
    assert failed["id_number:citizen_id"] == 3  # one rule, one GX expectation, 3 failing rows
    assert failed["birth_date:birth_date_matches_id"] == 0  # not compared with an invalid ID
    assert result["suite_success"] is False

    insurance = [f"{i},,medical,active,,2026-11-20T08:00:00" for i in [*REPORTED, *GOOD]]
    result = ingest_file(
        _write(tmp_path, "hrss.social_insurance", INSURANCE, insurance),
        "hrss.social_insurance",
        eng=wh,
        run_gx=False,
    )
    assert (result["rows_in"], result["rows_accepted"], result["rows_quarantined"]) == (5, 2, 3)
    assert _quarantine_reasons(result, wh) == expected

    merge_library("person", eng=wh)
    with wh.connect() as conn:
        merged = dict(
            conn.execute(sa.text("select id_number, birth_date from library.person")).all()
        )
    assert set(merged) == set(GOOD)
    assert {str(merged[i]) for i in GOOD} == {born for born, _ in GOOD.values()}
