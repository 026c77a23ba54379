"""Vectorised row masks, one function per rule kind: ``True`` marks a failing row.

These are the single implementation of every check: row-level quarantine calls them on
Arrow batches, and the custom Great Expectations expectations call them from their pandas
metric, so GX results and the quarantine can never disagree. Nulls never fail a value rule
(GX semantics); only ``not_null`` looks at them.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierflow import identifiers

CITY_BOX = {"min_lon": 105.28, "max_lon": 110.20, "min_lat": 28.16, "max_lat": 32.21}


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def present(values: pa.Array) -> np.ndarray:
    return _np(pc.is_valid(values))


def not_null(values: pa.Array) -> np.ndarray:
    return ~present(values)


def in_set(values: pa.Array, value_set: list[str]) -> np.ndarray:
    return present(values) & ~_np(pc.is_in(values, value_set=pa.array(value_set, type=values.type)))


def pattern(values: pa.Array, regex: str) -> np.ndarray:
    return present(values) & ~_np(pc.match_substring_regex(values, regex))


def value_range(values: pa.Array, min_value: float | None, max_value: float | None) -> np.ndarray:
    fail = np.zeros(len(values), dtype=bool)
    if min_value is not None:
        fail |= _np(pc.less(values, min_value))
    if max_value is not None:
        fail |= _np(pc.greater(values, max_value))
    return fail


def max_length(values: pa.Array, max_value: int) -> np.ndarray:
    return _np(pc.greater(pc.utf8_length(values), max_value))


class IdFacts(NamedTuple):
    """What an ID-number column says, computed once per batch and shared by the rules using it."""

    faults: np.ndarray  # identifiers.Fault flags per row, 0 = valid to the letter
    birth_date: pa.Array
    gender: pa.Array

    @property
    def valid(self) -> np.ndarray:
        return self.faults == 0


def id_facts(id_number: pa.Array, today: dt.date | None = None) -> IdFacts:
    birth, gender = identifiers.citizen_id_parts(id_number)
    return IdFacts(identifiers.citizen_id_faults(id_number, today), birth, gender)


def citizen_id(
    values: pa.Array, facts: IdFacts | None = None, today: dt.date | None = None
) -> np.ndarray:
    """GB 11643 ID numbers checked to the letter (``identifiers.citizen_id_faults``)."""
    faults = facts.faults if facts is not None else identifiers.citizen_id_faults(values, today)
    return present(values) & (faults != 0)


def uscc(values: pa.Array, faults: np.ndarray | None = None) -> np.ndarray:
    """GB 32100 codes checked to the letter (``identifiers.uscc_faults``)."""
    faults = faults if faults is not None else identifiers.uscc_faults(values)
    return present(values) & (faults != 0)


def fault_masks(
    values: pa.Array, faults: np.ndarray, kinds: tuple[identifiers.Fault, ...]
) -> list[tuple[identifiers.Fault, np.ndarray]]:
    """One failing-row mask per fault kind that occurs (nulls never fail, as above)."""
    is_present = present(values)
    out = []
    for kind in kinds:
        mask = is_present & ((faults & kind) != 0)
        if mask.any():
            out.append((kind, mask))
    return out


def division_code(
    values: pa.Array, known_districts: list[str], township_prefixes: list[str] | None = None
) -> np.ndarray:
    """12-digit statistical code under a known district; segments 001–599.

    When the official township table is loaded, codes under a district it covers must
    also name a real township; districts it does not cover fall back to the format check.
    """
    shaped = _np(pc.match_substring_regex(values, r"^\d{12}$"))
    # only well-shaped codes are sliced into numbers; the others become "000000000000" (fail)
    digits = pc.if_else(pa.array(shaped), values, "000000000000")
    district = pc.utf8_slice_codeunits(digits, 0, 6)
    township = pc.cast(pc.utf8_slice_codeunits(digits, 6, 9), pa.int32())
    village = pc.cast(pc.utf8_slice_codeunits(digits, 9, 12), pa.int32())
    ok = shaped & _np(pc.is_in(district, value_set=pa.array(known_districts)))
    ok &= _np(pc.and_(pc.greater_equal(township, 1), pc.less_equal(township, 599)))
    ok &= _np(pc.and_(pc.greater_equal(village, 1), pc.less_equal(village, 599)))
    if township_prefixes:
        covered = pa.array(sorted({p[:6] for p in township_prefixes}))
        in_covered = _np(pc.is_in(district, value_set=covered))
        known_township = _np(
            pc.is_in(pc.utf8_slice_codeunits(values, 0, 9), value_set=pa.array(township_prefixes))
        )
        ok &= ~in_covered | known_township
    return present(values) & ~ok


def wkt_polygon(values: pa.Array, box: dict[str, float] = CITY_BOX) -> np.ndarray:
    import shapely

    arr = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    is_present = present(values)
    geoms = np.full(len(arr), None, dtype=object)
    if is_present.any():
        geoms[is_present] = shapely.from_wkt(arr[is_present], on_invalid="ignore")
    parsed = ~shapely.is_missing(geoms)
    ok = parsed.copy()
    if parsed.any():
        sub = geoms[parsed]
        bounds = shapely.bounds(sub)
        valid = (
            (shapely.get_type_id(sub) == 3)  # Polygon
            & shapely.is_valid(sub)
            & ~shapely.is_empty(sub)
            & (bounds[:, 0] >= box["min_lon"])
            & (bounds[:, 2] <= box["max_lon"])
            & (bounds[:, 1] >= box["min_lat"])
            & (bounds[:, 3] <= box["max_lat"])
        )
        ok[parsed] = valid
    return is_present & ~ok


def not_future(values: pa.Array, now: dt.datetime) -> np.ndarray:
    if pa.types.is_date(values.type):
        today = identifiers.platform_today(now)
        return _np(pc.greater(values, pa.scalar(today, type=values.type)))
    limit = pa.scalar(now.astimezone(dt.UTC), type=pa.timestamp("us", tz="UTC"))
    return _np(pc.greater(pc.cast(values, pa.timestamp("us", tz="UTC")), limit))


def birth_date_matches_id(
    birth_date: pa.Array, id_number: pa.Array, facts: IdFacts | None = None
) -> np.ndarray:
    """Evaluated only where the ID itself is valid and a birth date was given.

    The ID's date comes from ``identifiers.citizen_id_parts``, which never rolls a date over.
    """
    facts = facts or id_facts(id_number)
    differs = _np(pc.not_equal(pc.cast(birth_date, pa.date32()), facts.birth_date))
    return facts.valid & present(birth_date) & differs


def gender_matches_id(
    gender: pa.Array, id_number: pa.Array, facts: IdFacts | None = None
) -> np.ndarray:
    facts = facts or id_facts(id_number)
    known = _np(pc.is_in(gender, value_set=pa.array(["1", "2"])))
    return facts.valid & known & _np(pc.not_equal(gender, facts.gender))


def not_before(later: pa.Array, earlier: pa.Array) -> np.ndarray:
    """``later >= earlier`` where both are present (valid_until ≥ valid_from, …)."""
    return _np(pc.less(later, earlier))


def holder_id_matches_kind(
    holder_id: pa.Array, kind: pa.Array, today: dt.date | None = None
) -> np.ndarray:
    """A person's holder id is an ID number, an entity's a USCC, both valid to the letter."""
    person = _np(pc.equal(kind, "person"))
    entity = _np(pc.equal(kind, "entity"))
    valid_id = identifiers.citizen_id_valid_mask(holder_id, today)
    valid_uscc = identifiers.uscc_valid_mask(holder_id)
    return present(holder_id) & ((person & ~valid_id) | (entity & ~valid_uscc))


def in_city_box(
    longitude: pa.Array, latitude: pa.Array, box: dict[str, float] = CITY_BOX
) -> np.ndarray:
    both = present(longitude) & present(latitude)
    inside = _np(
        pc.and_(
            pc.and_(
                pc.greater_equal(longitude, box["min_lon"]),
                pc.less_equal(longitude, box["max_lon"]),
            ),
            pc.and_(
                pc.greater_equal(latitude, box["min_lat"]), pc.less_equal(latitude, box["max_lat"])
            ),
        )
    )
    return both & ~inside
