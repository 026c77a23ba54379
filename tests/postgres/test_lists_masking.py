"""The three lists (demand in force, negative list wins, delivery calendar) and masking."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from tierflow.contracts import Demand, catalog
from tierflow.lists import demand_in_force, district_consumer, grants
from tierflow.masking import (
    PSEUDONYM,
    Mask,
    MissingPseudonymKey,
    apply_mask,
    consumer_key,
    install_key,
    is_identifier,
    mask_for,
    mask_sql,
    pseudonym,
    pseudonym_secret,
    pseudonym_sql,
)
from tierflow.quality.calendar import due_date_for, expected_deliveries
from tierflow.sharing.policy import CLEAR, plan_feeds

ON = dt.date(2026, 3, 1)


def _demand(**changes) -> Demand:
    base = dict(
        id="D-2026-900",
        consumer="d500103",
        dataset="psb.household",
        fields=("id_number",),
        purpose="测试用途说明",
        status="approved",
        approved_on=dt.date(2026, 1, 1),
    )
    return Demand(**(base | changes))


@pytest.mark.unit
def test_only_approved_unexpired_demands_are_in_force():
    assert demand_in_force(_demand(), ON)
    assert demand_in_force(_demand(expires_on=ON), ON)  # the last valid day still counts
    assert not demand_in_force(_demand(expires_on=ON - dt.timedelta(days=1)), ON)
    assert not demand_in_force(_demand(status="rejected", approved_on=None), ON)
    assert not demand_in_force(_demand(status="pending", approved_on=None), ON)
    assert not demand_in_force(_demand(approved_on=ON + dt.timedelta(days=1)), ON)


@pytest.mark.unit
def test_the_negative_list_wins_over_an_approved_demand():
    cat = catalog()
    # D-2026-013 (渝中区) asks for ethnicity; the negative list forbids it
    household = grants(cat, "d500103", ON)["psb.household"]
    assert "ethnicity" not in household.fields
    assert "ethnicity" in household.withheld and "民族" in household.withheld["ethnicity"]
    person = next(
        p for p in plan_feeds(cat, district_consumer(cat, "500103"), ON) if p.name == "person"
    )
    assert "ethnicity" not in {c.output for c in person.columns}
    assert "ethnicity" in person.withheld
    for code in cat.divisions.pilot_codes:
        for plan in plan_feeds(cat, district_consumer(cat, code), ON):
            assert not {"ethnicity", "phone"} & {c.output for c in plan.columns}


@pytest.mark.unit
def test_expired_rejected_and_pending_demands_give_no_feed():
    cat = catalog()
    assert "mnr.land_parcel" not in grants(cat, "d500105", ON)  # expired 2025-12-31
    assert "mnr.land_parcel" in grants(cat, "d500105", dt.date(2025, 6, 1))
    assert "hrss.social_insurance" not in grants(cat, "d500104", ON)  # rejected
    assert "hrss.social_insurance" not in grants(cat, "d500106", ON)  # pending
    names = {p.name for p in plan_feeds(cat, district_consumer(cat, "500105"), ON)}
    assert "land_parcel" not in names and "person" in names


@pytest.mark.unit
def test_masking_follows_clearance_and_pseudonymise():
    cat = catalog()
    for code, clearance in (("500103", 3), ("500105", 2)):
        person = next(
            p for p in plan_feeds(cat, district_consumer(cat, code), ON) if p.name == "person"
        )
        treatment = {c.output: c.treatment for c in person.columns}
        assert treatment["id_number"] == PSEUDONYM  # the demand says pseudonymise
        assert treatment["gender"] == CLEAR  # level 2
        level3 = CLEAR if clearance >= 3 else None
        assert treatment["name"] == (level3 or Mask.name.value)
        assert treatment["birth_date"] == (level3 or Mask.year.value)
        entity = next(
            p for p in plan_feeds(cat, district_consumer(cat, code), ON) if p.name == "legal_entity"
        )
        # a level-4 identifier above the clearance is a pseudonym, never partly shown
        assert {c.output: c.treatment for c in entity.columns}["legal_rep_id_number"] == PSEUDONYM


@pytest.mark.unit
def test_responsibility_list_drives_the_delivery_calendar():
    cat = catalog()
    week = expected_deliveries(cat, dt.date(2026, 3, 2), dt.date(2026, 3, 8))  # Monday..Sunday
    by_dataset: dict[str, list] = {}
    for due in week:
        by_dataset.setdefault(due.dataset, []).append(due)
    assert len(by_dataset["psb.household"]) == 7
    assert [d.due_at.weekday() for d in by_dataset["mnr.address"]] == [0]
    # a delivery belongs to the first due date after its date: periods end the day before
    weekly = by_dataset["mnr.address"][0]
    assert (weekly.period_start, weekly.period_end) == (dt.date(2026, 2, 23), dt.date(2026, 3, 1))
    daily = by_dataset["psb.household"][0]
    assert daily.period_start == daily.period_end == daily.due_at.date() - dt.timedelta(days=1)
    assert "hrss.social_insurance" in by_dataset  # monthly, due on the 5th
    monthly = by_dataset["hrss.social_insurance"][0]
    assert (monthly.period_start, monthly.period_end) == (dt.date(2026, 2, 5), dt.date(2026, 3, 4))
    responsibility = {r.dataset: r for r in cat.responsibility.responsibilities}
    assert due_date_for(responsibility["psb.household"], dt.date(2026, 3, 1)) == dt.date(2026, 3, 2)
    assert due_date_for(responsibility["mnr.address"], dt.date(2026, 3, 2)) == dt.date(2026, 3, 9)
    assert due_date_for(responsibility["hrss.social_insurance"], dt.date(2026, 3, 5)) == dt.date(
        2026, 4, 5
    )
    assert by_dataset["trans.truck_gps"][0].due_at.hour == 4
    assert str(by_dataset["psb.household"][0].due_at.tzinfo) == "Asia/Shanghai"


@pytest.mark.unit
def test_partial_masks_on_examples():
    assert apply_mask(pa.array(["13812345678", None, "short"]), Mask.phone).to_pylist() == [
        "138****5678",
        None,
        "****",
    ]
    assert apply_mask(pa.array(["13812345678"]), Mask.phone).to_pylist() == ["138****5678"]
    assert apply_mask(pa.array(["欧阳娜娜", "李"]), Mask.name).to_pylist() == ["欧***", "李"]
    dates = pa.array([dt.date(1990, 7, 9)])
    assert apply_mask(dates, Mask.year).to_pylist() == [dt.date(1990, 1, 1)]
    assert apply_mask(pa.array([1.5]), Mask.withhold).to_pylist() == [None]


@pytest.mark.unit
def test_identifiers_are_never_partially_masked():
    cat = catalog()
    for dataset in cat.datasets:
        for column in dataset.columns:
            if is_identifier(column):
                with pytest.raises(ValueError, match="never partially masked"):
                    mask_for(column)


@pytest.mark.unit
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet="张王李赵欧阳司马明华丽", min_size=1, max_size=5), min_size=1, max_size=20
    )
)
def test_name_mask_keeps_the_surname_and_the_length(values):
    for value, out in zip(values, apply_mask(pa.array(values), Mask.name).to_pylist(), strict=True):
        assert out[0] == value[0] and len(out) == len(value) and set(out[1:]) <= {"*"}


@pytest.mark.unit
def test_pseudonym_key_from_env_never_default(monkeypatch, tmp_path):
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))  # no demo keys lying around
    monkeypatch.delenv("TIERFLOW_PSEUDONYM_KEY", raising=False)
    with pytest.raises(MissingPseudonymKey) as err:
        pseudonym_secret()
    assert "TIERFLOW_PSEUDONYM_KEY" in str(err.value)
    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", "s3cret")
    secret = pseudonym_secret()
    a, b = consumer_key(secret, "d500103"), consumer_key(secret, "d500104")
    assert a != b
    assert pseudonym(a, "500103199001011234") != pseudonym(b, "500103199001011234")
    assert re.fullmatch(r"[0-9a-f]{64}", pseudonym(a, "x"))


@pytest.mark.postgres
@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.text(min_size=0, max_size=30).filter(lambda s: "\x00" not in s), min_size=1, max_size=10
    )
)
def test_postgres_hmac_equals_the_reference(warehouse_url, values):
    from tierflow import db

    key = consumer_key(b"k", "d500103")
    with db.engine().begin() as conn:
        driver = conn.connection.driver_connection
        with driver.cursor() as cursor:
            install_key(cursor, key)
        rows = (
            conn.execute(
                sa.text(
                    f"select {pseudonym_sql('v')} from unnest(cast(:vs as text[])) with ordinality as t(v, n) order by n"
                ),
                {"vs": values},
            )
            .scalars()
            .all()
        )
    assert rows == [pseudonym(key, v) for v in values]


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"]),
    max_size=14,
)


@pytest.mark.postgres
@settings(max_examples=25, deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=12),
    dates=st.lists(
        st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))),
        min_size=1,
        max_size=12,
    ),
)
def test_sql_and_arrow_renderings_of_every_mask_agree(warehouse_url, texts, dates):
    """The pull views (SQL) and the feeds (Arrow) apply the same masks: same outputs."""
    from tierflow import db

    with db.engine().connect() as conn:
        for mask in (Mask.phone, Mask.name, Mask.prefix, Mask.withhold):
            in_sql = conn.execute(
                sa.text(
                    f"select {mask_sql('v', mask, 'text')} from unnest(cast(:vs as text[]))"
                    " with ordinality as t(v, n) order by n"
                ),
                {"vs": texts},
            ).scalars()
            assert list(in_sql) == apply_mask(pa.array(texts, pa.string()), mask).to_pylist(), mask
        for mask in (Mask.year, Mask.withhold):
            in_sql = conn.execute(
                sa.text(
                    f"select {mask_sql('v', mask, 'date')} from unnest(cast(:vs as date[]))"
                    " with ordinality as t(v, n) order by n"
                ),
                {"vs": dates},
            ).scalars()
            assert list(in_sql) == apply_mask(pa.array(dates, pa.date32()), mask).to_pylist(), mask
