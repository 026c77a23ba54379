import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import plain_identifiers as plain
from tierflow import identifiers as ids
from tierflow.checks import masks
from tierflow.checks.rules import Rule, RuleContext, evaluate, evaluate_with_reasons
from tierflow.contracts import Severity

pytestmark = pytest.mark.unit

TODAY = dt.date(2026, 3, 1)  # an explicit "today": no assertion depends on the clock


def cid(first17: str) -> str:
    """An ID number with the right check character, so only its content can be wrong."""
    return first17 + ids.id_check_char(first17)


def uscc(first16: str) -> str:
    """A USCC with both check characters right: the organisation code's and the code's."""
    first17 = first16 + ids.org_code_check_char(first16[8:16])
    return first17 + ids.uscc_check_char(first17)


def faults(value: str | None, today: dt.date = TODAY) -> list[str]:
    return ids.citizen_id_fault_reasons(value, today)


VALID_IDS = [
    "11010519491231002X",
    cid("44052419000101001"),
    cid("50010319900101123"),
]
VALID_USCC = [
    "91350100M000100Y43",
    "91110000600037341L",
    "91500103MA5U31F91" + ids.uscc_check_char("91500103MA5U31F91"),
]
# The three IDs of the issue, with correct check characters: only the content rule fails.
REPORTED = {
    "500103199002301231": "date_not_calendar",  # Feb 30; Arrow's strptime made it 1990-03-02
    cid("99010119900101123"): "province_unknown",
    cid("50990119900101123"): "internal_zone_code",
}


@pytest.mark.parametrize("value", VALID_IDS)
def test_published_citizen_ids_are_valid(value):
    assert ids.is_valid_citizen_id(value, TODAY)


@pytest.mark.parametrize("value", VALID_USCC)
def test_published_uscc_are_valid(value):
    assert ids.is_valid_uscc(value)


def test_altered_check_characters_are_rejected():
    assert faults("110105194912310021") == ["check_char"]
    assert faults("11010519491231002x") == ["format"]  # normalisation makes it X, not the check
    assert ids.uscc_fault_reasons("91350100M000100Y44") == ["check_char"]
    # organisation-code check character (17th) altered, USCC check recomputed to stay consistent
    body = "91350100M000100Y5"
    assert ids.uscc_fault_reasons(body + ids.uscc_check_char(body)) == ["org_check_char"]


def test_uscc_rejects_letters_outside_the_charset():
    assert ids.uscc_fault_reasons("91350100M000100I43") == ["format"]  # no I in GB 32100
    assert ids.uscc_fault_reasons(uscc("9135A100M000100Y")) == ["format"]  # division: digits


def test_the_three_reported_ids_fail_only_their_content_rule():
    assert "500103199002301231" == cid("50010319900230123")
    for value, fault in REPORTED.items():
        assert faults(value) == [fault], value


@pytest.mark.parametrize(
    ("date", "fault"),
    [
        ("20000229", None),  # divisible by 400: leap
        ("19000229", "date_not_calendar"),  # divisible by 100, not by 400: no Feb 29
        ("19960229", None),
        ("20230229", "date_not_calendar"),
        ("20240229", None),
        ("19900230", "date_not_calendar"),  # never rolled over to 1990-03-02
        ("19900231", "date_not_calendar"),
        ("19900431", "date_not_calendar"),
        ("19901301", "date_not_calendar"),  # month 13
        ("19900001", "date_not_calendar"),  # month 00
        ("19900100", "date_not_calendar"),  # day 00
        ("19900132", "date_not_calendar"),
        ("00000101", "date_not_calendar"),  # there is no year 0
        ("19001231", None),
        ("19000101", None),  # the earliest
        ("18991231", "date_before_1900"),
        ("18000101", "date_before_1900"),
        ("20260301", None),  # today
        ("20260302", "date_in_future"),  # tomorrow
        ("20270101", "date_in_future"),
    ],
)
def test_birth_date_is_a_real_date_from_1900_to_today(date, fault):
    value = cid(f"500103{date}123")
    assert faults(value) == ([fault] if fault else [])
    birth, _ = ids.citizen_id_parts(pa.array([value]))
    expected = (
        dt.date(int(date[:4]), int(date[4:6]), int(date[6:]))
        if fault
        in (
            None,
            "date_before_1900",
            "date_in_future",
        )
        else None
    )
    assert birth.to_pylist() == [expected]  # the ID's date itself: real or null, never rolled


def test_today_is_the_platforms_day_in_shanghai():
    # 16:30 UTC on 1 Dec is already 2 Dec in Chongqing
    late = dt.datetime(2026, 12, 1, 16, 30, tzinfo=dt.UTC)
    assert ids.platform_today(late) == dt.date(2026, 12, 2)
    assert RuleContext(("500103",), now=late).today == dt.date(2026, 12, 2)
    born = cid("50010320261202123")
    assert faults(born, ids.platform_today(late)) == []
    assert faults(born, dt.date(2026, 12, 1)) == ["date_in_future"]


PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
PROVINCES |= {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}


@pytest.mark.parametrize("province", range(100))
def test_division_starts_with_a_gb_t_2260_province(province):
    expected = [] if province in PROVINCES else ["province_unknown"]
    assert faults(cid(f"{province:02d}0103" + "19900101123")) == expected
    assert ids.uscc_fault_reasons(uscc(f"91{province:02d}0103MA5U31F9")) == expected


def test_province_set_matches_the_design_ranges():
    assert set(ids.PROVINCE_CODES) == PROVINCES
    # the boundaries on both sides of every range
    for inside, outside in [(11, 10), (15, 16), (21, 20), (23, 24), (31, 30), (37, 38)]:
        assert inside in ids.PROVINCE_CODES and outside not in ids.PROVINCE_CODES
    for inside, outside in [(41, 40), (46, 47), (50, 49), (54, 55), (61, 60), (65, 66)]:
        assert inside in ids.PROVINCE_CODES and outside not in ids.PROVINCE_CODES
    assert {70, 72, 80, 83} & set(ids.PROVINCE_CODES) == set()


@pytest.mark.parametrize("division", ["509901", "509902", "509903", "509900", "509999"])
def test_internal_zone_codes_never_appear_in_an_id_or_a_uscc(division):
    assert faults(cid(f"{division}19900101123")) == ["internal_zone_code"]
    assert ids.uscc_fault_reasons(uscc(f"91{division}MA5U31F9")) == ["internal_zone_code"]


@pytest.mark.parametrize("division", ["509801", "500999", "500112", "500107", "500110"])
def test_codes_next_to_the_internal_range_are_fine(division):
    assert faults(cid(f"{division}19900101123")) == []
    assert ids.uscc_fault_reasons(uscc(f"91{division}MA5U31F9")) == []


def test_every_fault_of_a_value_is_named():
    assert faults(cid("99010119900230123")) == ["date_not_calendar", "province_unknown"]
    wrong = "509901189912311230"
    assert wrong != cid(wrong[:17])
    assert faults(wrong) == ["check_char", "date_before_1900", "internal_zone_code"]
    assert faults("50010319900101123Y") == ["format"]  # malformed: nothing else is read
    assert ids.uscc_fault_reasons(uscc("91990000M000100Y")[:-1] + "0") == [
        "check_char",
        "province_unknown",
    ]


def test_vectorised_masks_on_edge_values():
    values = pa.array(
        VALID_IDS + ["110105194912310021", None, "", "1101051949123100２X", "ABCDEFGHIJKLMNOPQR"]
    )
    assert ids.citizen_id_valid_mask(values, TODAY).tolist() == [True] * 3 + [False] * 5
    flags = ids.citizen_id_faults(values, TODAY)
    assert flags.tolist() == [0, 0, 0, ids.Fault.CHECK_CHAR] + [ids.Fault.FORMAT] * 4
    usccs = pa.array(VALID_USCC + ["91350100M000100Y44", None, "short"])
    assert ids.uscc_valid_mask(usccs).tolist() == [True] * 3 + [False] * 3


def test_vectorised_handles_sliced_and_chunked_arrays():
    values = pa.chunked_array([pa.array(["x", *VALID_IDS]), pa.array(VALID_IDS)])
    assert ids.citizen_id_valid_mask(values, TODAY).tolist() == [False] + [True] * 6
    sliced = pa.array(["x", *VALID_USCC, "y"]).slice(1, 3)
    assert ids.uscc_valid_mask(sliced).tolist() == [True] * 3
    birth, gender = ids.citizen_id_parts(pa.array(["x", *REPORTED, "y"]).slice(1, 3))
    assert birth.to_pylist() == [None, dt.date(1990, 1, 1), dt.date(1990, 1, 1)]
    assert gender.to_pylist() == ["1", "1", "1"]


def test_id_parts_give_birth_date_and_gender():
    birth, gender = ids.citizen_id_parts(
        pa.array(["11010519491231002X", "440524188001010014", "500103199002301231", None, "1"])
    )
    assert birth.to_pylist() == [dt.date(1949, 12, 31), dt.date(1880, 1, 1), None, None, None]
    assert gender.to_pylist() == ["2", "1", "1", None, None]


def test_quarantine_reasons_name_the_fault():
    rule = Rule("id_number:citizen_id", "citizen_id", ("id_number",), Severity.block)
    table = pa.table({"id_number": pa.array([*REPORTED, VALID_IDS[0], None])})
    ctx = RuleContext(("500103",), now=dt.datetime(2026, 3, 1, 4, tzinfo=dt.UTC))
    fail, evaluated, reasons = evaluate_with_reasons(rule, table, ctx)
    assert fail.tolist() == [True, True, True, False, False] and evaluated == 4
    named = {reason: mask.tolist() for reason, mask in reasons}
    assert named == {
        "id_number:citizen_id:date_not_calendar": [True, False, False, False, False],
        "id_number:citizen_id:province_unknown": [False, True, False, False, False],
        "id_number:citizen_id:internal_zone_code": [False, False, True, False, False],
    }
    assert (evaluate(rule, table, ctx)[0] == fail).all()
    assert (masks.citizen_id(table.column(0).combine_chunks(), today=TODAY) == fail).all()
    assert set(named) <= set(rule.reasons)


# --- the vectorised code against a plain-Python reading of design §4 ----------------------


def _id_from_parts(parts: tuple) -> str:
    division, rest, century, year, month, day, sequence, right_check = parts
    body = (division + rest)[:6] + century + year + month + day + sequence
    return body + (ids.id_check_char(body) if right_check else "0")


digit = st.sampled_from("0123456789")
id_like = st.tuples(
    st.sampled_from(["50", "99", "11", "82", "71", "70", "10", "5099", "65", "66"]),
    st.text(digit, min_size=4, max_size=4),
    st.sampled_from(["18", "19", "20", "00", "25"]),
    st.text(digit, min_size=2, max_size=2),
    st.sampled_from(["00", "01", "02", "04", "09", "12", "13"]),
    st.sampled_from(["00", "01", "28", "29", "30", "31", "32"]),
    st.text(digit, min_size=3, max_size=3),
    st.booleans(),
).map(_id_from_parts)


@settings(max_examples=400, deadline=None)
@given(st.lists(id_like | st.text("0123456789X", min_size=17, max_size=19), max_size=30))
def test_vectorised_citizen_id_agrees_with_a_plain_reading(values):
    flags = ids.citizen_id_faults(pa.array(values, pa.string()), TODAY)
    got = [{f.reason for f in ids.ID_FAULTS if int(v) & f} for v in flags]
    assert got == [plain.citizen_id_faults(v, TODAY) for v in values]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet=ids.USCC_CHARSET + "IOZ", min_size=17, max_size=19),
        min_size=1,
        max_size=30,
    )
)
def test_vectorised_uscc_agrees_with_a_plain_reading(values):
    # give some of them correct check characters so both branches are exercised
    fixed = [
        v[:17] + ids.uscc_check_char(v[:17])
        if len(v) == 18 and all(c in ids.USCC_CHARSET for c in v[:17]) and i % 2
        else v
        for i, v in enumerate(values)
    ]
    flags = ids.uscc_faults(pa.array(fixed))
    got = [{f.reason for f in ids.USCC_FAULTS if int(v) & f} for v in flags]
    assert got == [plain.uscc_faults(v) for v in fixed]


def test_the_plain_reading_follows_the_design_text():
    assert plain.PROVINCES == PROVINCES
    assert plain.citizen_id_faults("500103199002301231", TODAY) == {"date_not_calendar"}
    assert plain.uscc_faults("91110000600037341L") == set()


def test_calendar_arithmetic_agrees_with_datetime():
    days = np.arange(-719_000, 800_000, 97)  # from year 1 to year 4160, every 97th day
    dates = [dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in days]
    year, month, day = (np.array([getattr(d, f) for d in dates]) for f in ("year", "month", "day"))
    assert ids.is_calendar_date(year, month, day).all()
    assert (ids.days_since_epoch(year, month, day) == days).all()
    assert not ids.is_calendar_date(year, month, day + 31).any()


def test_vectorised_speed_is_not_a_python_loop():
    # a functional guard, not a timing assertion: one million values go through in one call
    values = pa.array(np.repeat(np.array(VALID_IDS, dtype=object), 333_334)[:1_000_000].tolist())
    assert ids.citizen_id_valid_mask(values, TODAY).sum() == 1_000_000
