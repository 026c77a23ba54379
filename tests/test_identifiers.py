import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tierflow import identifiers as ids

pytestmark = pytest.mark.unit

VALID_IDS = [
    "11010519491231002X",
    "440524188001010014",
    "500103199001011234"[:17] + ids.id_check_char("50010319900101123"),
]
VALID_USCC = [
    "91350100M000100Y43",
    "91110000600037341L",
    "91500103MA5U31F91" + ids.uscc_check_char("91500103MA5U31F91"),
]


@pytest.mark.parametrize("value", VALID_IDS)
def test_published_citizen_ids_are_valid(value):
    assert ids.is_valid_citizen_id(value)


@pytest.mark.parametrize("value", VALID_USCC)
def test_published_uscc_are_valid(value):
    assert ids.is_valid_uscc(value)


def test_altered_check_characters_are_rejected():
    assert not ids.is_valid_citizen_id("110105194912310021")
    assert not ids.is_valid_citizen_id(
        "11010519491231002x"
    )  # normalisation makes it X, not the check
    assert not ids.is_valid_uscc("91350100M000100Y44")
    # organisation-code check character (17th) altered, USCC check recomputed to stay consistent
    body = "91350100M000100Y5"
    assert not ids.is_valid_uscc(body + ids.uscc_check_char(body))


def test_uscc_rejects_letters_outside_the_charset():
    assert not ids.is_valid_uscc("91350100M000100I43")  # I is not in the GB 32100 set


def test_vectorised_masks_on_edge_values():
    values = pa.array(
        VALID_IDS + ["110105194912310021", None, "", "1101051949123100２X", "ABCDEFGHIJKLMNOPQR"]
    )
    assert ids.citizen_id_valid_mask(values).tolist() == [True] * 3 + [False] * 5
    uscc = pa.array(VALID_USCC + ["91350100M000100Y44", None, "short"])
    assert ids.uscc_valid_mask(uscc).tolist() == [True] * 3 + [False] * 3


def test_vectorised_handles_sliced_and_chunked_arrays():
    values = pa.chunked_array([pa.array(["x", *VALID_IDS]), pa.array(VALID_IDS)])
    assert ids.citizen_id_valid_mask(values).tolist() == [False] + [True] * 6
    sliced = pa.array(["x", *VALID_USCC, "y"]).slice(1, 3)
    assert ids.uscc_valid_mask(sliced).tolist() == [True] * 3


def test_id_parts_give_birth_date_and_gender():
    birth, gender = ids.citizen_id_parts(pa.array(["11010519491231002X", "440524188001010014"]))
    assert [d.isoformat() for d in birth.to_pylist()] == ["1949-12-31", "1880-01-01"]
    assert gender.to_pylist() == ["2", "1"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789X", min_size=17, max_size=19), min_size=1, max_size=30))
def test_vectorised_citizen_id_agrees_with_scalar(values):
    mask = ids.citizen_id_valid_mask(pa.array(values))
    assert mask.tolist() == [ids.is_valid_citizen_id(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet=ids.USCC_CHARSET + "IOZ", min_size=17, max_size=19),
        min_size=1,
        max_size=30,
    )
)
def test_vectorised_uscc_agrees_with_scalar(values):
    # give some of them correct check characters so both branches are exercised
    fixed = [
        v[:17] + ids.uscc_check_char(v[:17])
        if len(v) == 18 and all(c in ids.USCC_CHARSET for c in v[:17]) and i % 2
        else v
        for i, v in enumerate(values)
    ]
    mask = ids.uscc_valid_mask(pa.array(fixed))
    assert mask.tolist() == [ids.is_valid_uscc(v) for v in fixed]


def test_vectorised_speed_is_not_a_python_loop():
    # a functional guard, not a timing assertion: one million values go through in one call
    values = pa.array(np.repeat(np.array(VALID_IDS, dtype=object), 333_334)[:1_000_000].tolist())
    assert ids.citizen_id_valid_mask(values).sum() == 1_000_000
