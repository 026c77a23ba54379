"""Defect classes derived from a contract, and their injection into text columns.

A defect class is exactly the reason the checker reports (``<column>:<rule>``,
``<first column>:<pair rule>``, ``_row:ragged``, and for the identifier rules one class
per fault, ``<column>:citizen_id:date_not_calendar`` ...), derived from the contract
alone: a new dataset contract gets its defects without code. Each injected value trips
its own rule and no other one, which is why several injectors also touch a partner
column (e.g. an ID number's check character is recomputed after its date is broken).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierflow.contracts import Column, ColumnType, Dataset, PairRule, Semantic
from tierflow.generate import ids, text
from tierflow.generate.context import Context
from tierflow.geo import LON_MAX, LON_MIN
from tierflow.identifiers import (
    ID_CHECK_CHARS,
    ID_FAULTS,
    INTERNAL_ZONE_PREFIX,
    PROVINCE_CODES,
    USCC_CHARSET,
    USCC_FAULTS,
    Fault,
)

TEXT_FORMATS = ("csv", "jsonl")
UNKNOWN_PREFIXES = ("500199", "500300", "500999", "510000")
FUTURE_YEAR = "2099"
# Two-digit prefixes that are no GB/T 2260 province (00, 99 as in the issue, and the gaps).
NOT_PROVINCES = tuple(f"{p:02d}" for p in range(100) if p not in PROVINCE_CODES)


@dataclass(frozen=True)
class DefectClass:
    rule: str  # the ground-truth class: the checker's rule id
    kind: str  # not_null, in_set, ..., a PairRule value, or ragged
    column: str | None
    severity: str
    partner: str | None = None  # second column of a pair check
    fault: Fault | None = None  # identifier rules: the one fault the class injects


def defect_classes(ds: Dataset, fmt: str) -> list[DefectClass]:
    """Every defect class that applies to ``ds`` written as ``fmt``, in contract order."""
    in_pairs = {name for check in ds.checks for name in check.columns}
    # A birth date that must match a valid ID number cannot be in the future on its own: no
    # valid ID encodes a future date (design §4), so the class would always trip a second
    # rule. The future date inside the ID is the class <id column>:citizen_id:date_in_future.
    matched_to_id = {
        check.columns[0] for check in ds.checks if check.rule == PairRule.birth_date_matches_id
    }
    out: list[DefectClass] = []
    for col in ds.columns:
        sev = col.severity.value

        def add(kind: str, col: Column = col, sev: str = sev) -> None:
            out.append(DefectClass(f"{col.name}:{kind}", kind, col.name, sev))

        if not col.nullable and col.name not in ds.key:  # a null key would collide with other nulls
            add("not_null")
        if col.enum:
            add("in_set")
        if col.pattern:
            add("pattern")
        if col.min is not None or col.max is not None:
            add("range")
        if (
            col.type == ColumnType.string
            and col.max_length
            and not col.enum
            and not col.pattern
            and col.semantic is None
            and col.name not in in_pairs
            and col.name not in ds.key
        ):
            add("max_length")
        if col.semantic in (Semantic.citizen_id, Semantic.uscc):
            kind = col.semantic.value
            for fault in ID_FAULTS if col.semantic == Semantic.citizen_id else USCC_FAULTS:
                rule = f"{col.name}:{kind}:{fault.reason}"
                out.append(DefectClass(rule, kind, col.name, sev, fault=fault))
        if col.semantic in (Semantic.division_code, Semantic.wkt_polygon):
            add(col.semantic.value)
        if col.not_future and col.name not in matched_to_id:
            add("not_future")
        if fmt in TEXT_FORMATS and col.type != ColumnType.string:
            add("parse")
    for check in ds.checks:
        first, second = check.columns
        out.append(
            DefectClass(
                f"{first}:{check.rule.value}", check.rule.value, first, check.severity.value, second
            )
        )
    if fmt == "csv":
        out.append(DefectClass("_row:ragged", "ragged", None, "block"))
    return out


Updates = dict[str, pa.Array]  # column -> new values for the class's rows (in row order)
Injector = Callable[
    [Context, Dataset, DefectClass, dict[str, pa.Array], np.random.Generator], Updates
]


def inject(
    ctx: Context,
    ds: Dataset,
    columns: dict[str, pa.Array],
    rows: np.ndarray,
    classes: list[DefectClass],
    rng: np.random.Generator,
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Apply ``classes[i]`` to row ``rows[i]``; returns new columns and the ragged-row mask."""
    n = len(next(iter(columns.values())))
    ragged = np.zeros(n, dtype=bool)
    pending: dict[str, list[tuple[np.ndarray, pa.Array]]] = {}
    kinds = np.array([c.rule for c in classes])
    for cls in dict.fromkeys(classes):
        these = np.sort(rows[kinds == cls.rule])
        if cls.kind == "ragged":
            ragged[these] = True
            continue
        taken = {name: arr.take(pa.array(these)) for name, arr in columns.items()}
        if cls.column is not None and cls.kind in _NEEDS_VALUE:
            taken[cls.column] = _with_donors(columns[cls.column], taken[cls.column], rng)
        for name, values in INJECTORS[cls.kind](ctx, ds, cls, taken, rng).items():
            pending.setdefault(name, []).append((these, values))
    out = dict(columns)
    for name, parts in pending.items():
        where = np.concatenate([p[0] for p in parts])
        values = pa.concat_arrays([p[1].cast(pa.string()) for p in parts])
        order = np.argsort(where)
        mask = np.zeros(n, dtype=bool)
        mask[where] = True
        out[name] = pc.replace_with_mask(out[name], pa.array(mask), values.take(pa.array(order)))
    return out, ragged


# Rules that corrupt an existing value: a null in a nullable column first borrows a
# value from another row of the chunk (a null has no check character to get wrong).
_NEEDS_VALUE = {
    "pattern",
    "max_length",
    "citizen_id",
    "uscc",
    "division_code",
    "wkt_polygon",
    "not_future",
    "parse",
    PairRule.birth_date_matches_id.value,
    PairRule.gender_matches_id.value,
}


def _with_donors(column: pa.Array, values: pa.Array, rng: np.random.Generator) -> pa.Array:
    if values.null_count == 0:
        return values
    donors = column.drop_null()
    if len(donors) == 0:
        raise ValueError("cannot inject a defect into a column that is entirely null")
    fill = donors.take(pa.array(rng.integers(0, len(donors), values.null_count)))
    return pc.replace_with_mask(values, values.is_null(), fill)


# --- column rules ---------------------------------------------------------------------------


def _not_null(ctx, ds, cls, rows, rng) -> Updates:
    return {cls.column: text.nulls(len(rows[cls.column]))}


def _in_set(ctx, ds, cls, rows, rng) -> Updates:
    col = ds.column(cls.column)
    bad = _outside_enum(col)
    return {cls.column: pa.array([bad] * len(rows[cls.column]), pa.string())}


def _outside_enum(col: Column) -> str:
    width = col.max_length or 7
    for candidate in ("unknown", "ZZZZ", "99", "Z", "9", "#"):
        value = candidate[:width]
        if value not in (col.enum or ()) and (col.pattern is None or re.search(col.pattern, value)):
            return value
    raise ValueError(f"no out-of-set value fits column {col.name}")


def _pattern(ctx, ds, cls, rows, rng) -> Updates:
    """Swap the first character for one the pattern rejects (same length, so keys stay unique)."""
    col = ds.column(cls.column)
    values = rows[cls.column]
    result = values
    todo = pc.match_substring_regex(values, col.pattern)
    for replacement in ("9", "0", "X", "#"):
        candidate = pc.utf8_replace_slice(values, 0, 1, replacement)
        result = pc.if_else(todo, candidate, result)
        todo = pc.and_(todo, pc.match_substring_regex(result, col.pattern))
    if col.semantic == Semantic.uscc:  # keep it a valid code: only the pattern may fail
        matrix = ids.string_matrix(result, 18)
        matrix[:, 17] = ids.uscc_check_bytes(matrix[:, :17])
        result = ids.from_matrix(matrix)
    return {cls.column: result}


def _range(ctx, ds, cls, rows, rng) -> Updates:
    """Above max or below min, still a well-formed number."""
    col = ds.column(cls.column)
    k = len(rows[cls.column])
    if col.min is not None and col.max is not None:
        above = rng.random(k) < 0.5
    else:
        above = np.full(k, col.max is not None)
    if col.type == ColumnType.integer:
        value = np.where(
            above, (col.max or 0) + rng.integers(1, 50, k), (col.min or 0) - rng.integers(1, 5, k)
        )
        return {cls.column: text.integer(value)}
    span = max(abs(col.max or 0), 1.0)
    value = np.where(
        above,
        (col.max or 0) + span * rng.uniform(0.05, 0.5, k),
        (col.min or 0) - rng.uniform(0.5, 100, k),
    )
    return {cls.column: text.fixed(value, 2)}


def _max_length(ctx, ds, cls, rows, rng) -> Updates:
    col = ds.column(cls.column)
    values = pc.fill_null(rows[cls.column], "")
    return {cls.column: pc.utf8_rpad(values, width=(col.max_length or 0) + 5, padding="X")}


_ID_CHECK_BYTES = np.frombuffer(ID_CHECK_CHARS.encode(), dtype=np.uint8)
_USCC_BYTES = np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)
# a digit misread as the letter it looks like (0->O, 1->I, 2->Z, 5->S, 8->B, ...)
_LOOKALIKE = np.frombuffer(b"OIZEASGTBQ", dtype=np.uint8)
_NOT_IN_USCC_SET = np.frombuffer(b"IOSVZ", dtype=np.uint8)


def _digits_of(matrix: np.ndarray, start: int, stop: int) -> np.ndarray:
    powers = 10 ** np.arange(stop - start - 1, -1, -1, dtype=np.int64)
    return (matrix[:, start:stop].astype(np.int64) - ord("0")) @ powers


def _put_digits(matrix: np.ndarray, start: int, stop: int, values: np.ndarray) -> None:
    powers = 10 ** np.arange(stop - start - 1, -1, -1, dtype=np.int64)
    matrix[:, start:stop] = (values[:, None] // powers % 10 + ord("0")).astype(np.uint8)


def _put_text(matrix: np.ndarray, start: int, values: np.ndarray) -> None:
    """Write fixed-width ASCII strings (a numpy ``U`` array of one width) at ``start``."""
    width = int(values.dtype.itemsize // 4)
    encoded = np.frombuffer(values.astype(f"S{width}").tobytes(), dtype=np.uint8)
    matrix[:, start : start + width] = encoded.reshape(len(values), width)


def _is_leap(year: np.ndarray) -> np.ndarray:
    return (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))


def _impossible_dates(matrix: np.ndarray, rng: np.random.Generator) -> None:
    """Chars 7-14 become a date that does not exist; the year stays.

    Feb 30 (what Arrow's strptime rolled over to 1 or 2 March), Feb 29 of a non-leap year,
    day 31 of a 30-day month, day 00, and month + 12 (13-24). Rows the first four would make
    equal to another injected row get month + 12, which is one-to-one: no key repeats.
    """
    k = len(matrix)
    year, month, day = (
        _digits_of(matrix, 6, 10),
        _digits_of(matrix, 10, 12),
        _digits_of(matrix, 12, 14),
    )
    variant = rng.integers(0, 5, k)
    short_month = np.array([4, 6, 9, 11])[rng.integers(0, 4, k)]
    new_year = np.where((variant == 1) & _is_leap(year), year + 1, year)  # never two in a row
    new_month = np.select(
        [variant <= 1, variant == 2, variant == 3], [2, short_month, month], month + 12
    )
    new_day = np.select(
        [variant == 0, variant == 1, variant == 2, variant == 3], [30, 29, 31, 0], day
    )
    moved = matrix.copy()
    _put_digits(moved, 6, 10, new_year)
    _put_digits(moved, 10, 12, new_month)
    _put_digits(moved, 12, 14, new_day)
    _, first = np.unique(moved[:, :17].copy().view("S17"), return_index=True)
    repeated = np.ones(k, dtype=bool)
    repeated[first] = False
    if repeated.any():
        fallback = matrix[repeated].copy()
        _put_digits(fallback, 10, 12, month[repeated] + 12)
        moved[repeated] = fallback
    matrix[:] = moved


def _with_id_check(matrix: np.ndarray) -> np.ndarray:
    matrix[:, 17] = _ID_CHECK_BYTES[
        ((matrix[:, :17].astype(np.int64) - ord("0")) @ ids.ID_WEIGHTS) % 11
    ]
    return matrix


def _citizen_id(ctx, ds, cls, rows, rng) -> Updates:
    """One GB 11643 fault per value; the check character is recomputed after a content fault,
    so the value breaks exactly that part of the rule. Every change is one-to-one (distinct
    keys stay distinct): the year moves by 400 (the Gregorian calendar repeats every 400
    years, so a real date stays real), a prefix is swapped whole."""
    matrix = ids.string_matrix(rows[cls.column], 18)
    k = len(matrix)
    match cls.fault:
        case Fault.FORMAT:  # a digit misread as a letter
            where = rng.integers(0, 17, k)
            rows_ = np.arange(k)
            matrix[rows_, where] = _LOOKALIKE[matrix[rows_, where] - ord("0")]
            return {cls.column: ids.from_matrix(matrix)}
        case Fault.CHECK_CHAR:  # any fixed shift of the true character
            check = np.sort(_ID_CHECK_BYTES)
            position = np.searchsorted(check, matrix[:, 17])
            matrix[:, 17] = check[(position + 1 + rng.integers(0, 9, k)) % 11]
            return {cls.column: ids.from_matrix(matrix)}
        case Fault.DATE_NOT_CALENDAR:
            _impossible_dates(matrix, rng)
        case Fault.DATE_BEFORE_1900:
            _put_digits(matrix, 6, 10, _digits_of(matrix, 6, 10) - 400)
        case Fault.DATE_IN_FUTURE:
            _put_digits(matrix, 6, 10, _digits_of(matrix, 6, 10) + 400)
        case Fault.PROVINCE_UNKNOWN:  # e.g. 990101...: no such province
            _put_text(matrix, 0, np.array(NOT_PROVINCES)[rng.integers(0, len(NOT_PROVINCES), k)])
        case Fault.INTERNAL_ZONE_CODE:
            # 50xxyy -> 5099yy, the bureau's internal range (509901-509903 are the zones); the
            # last two digits of Chongqing's codes are distinct, so this is one-to-one too
            _put_text(matrix, 0, np.full(k, INTERNAL_ZONE_PREFIX))
        case _:
            raise ValueError(f"no injector for ID fault {cls.fault!r}")
    return {cls.column: ids.from_matrix(_with_id_check(matrix))}


def _uscc(ctx, ds, cls, rows, rng) -> Updates:
    """One GB 32100 fault per value (the organisation codes make every code distinct)."""
    matrix = ids.string_matrix(rows[cls.column], 18)
    k = len(matrix)
    match cls.fault:
        case Fault.FORMAT:  # a letter GB 32100 leaves out (I O S V Z) inside the org code
            matrix[np.arange(k), rng.integers(8, 16, k)] = _NOT_IN_USCC_SET[rng.integers(0, 5, k)]
            return {cls.column: ids.from_matrix(matrix)}
        case Fault.CHECK_CHAR:
            position = np.searchsorted(_USCC_BYTES, matrix[:, 17])
            matrix[:, 17] = _USCC_BYTES[(position + 1 + rng.integers(0, 29, k)) % 31]
            return {cls.column: ids.from_matrix(matrix)}
        case Fault.ORG_CHECK_CHAR:  # another organisation-code check character
            org_checks = np.frombuffer(b"0123456789X", dtype=np.uint8)
            position = np.searchsorted(org_checks, matrix[:, 16])
            matrix[:, 16] = org_checks[(position + 1 + rng.integers(0, 10, k)) % 11]
        case Fault.PROVINCE_UNKNOWN:
            _put_text(matrix, 2, np.array(NOT_PROVINCES)[rng.integers(0, len(NOT_PROVINCES), k)])
        case Fault.INTERNAL_ZONE_CODE:
            _put_text(matrix, 2, np.full(k, INTERNAL_ZONE_PREFIX))
        case _:
            raise ValueError(f"no injector for USCC fault {cls.fault!r}")
    matrix[:, 17] = ids.uscc_check_bytes(matrix[:, :17])
    return {cls.column: ids.from_matrix(matrix)}


def _division_code(ctx, ds, cls, rows, rng) -> Updates:
    values = rows[cls.column]
    k = len(values)
    known = {str(c) for c in ctx.tier.codes}
    prefixes = [p for p in UNKNOWN_PREFIXES if p not in known]
    unknown = pc.utf8_replace_slice(values, 0, 6, prefixes[0])
    zero_town = pc.utf8_replace_slice(values, 6, 9, "000")
    zero_village = pc.utf8_replace_slice(values, 9, 12, "000")
    variant = rng.integers(0, 3, k)
    return {
        cls.column: pc.case_when(
            pc.make_struct(pa.array(variant == 0), pa.array(variant == 1)),
            unknown,
            zero_town,
            zero_village,
        )
    }


def _wkt_polygon(ctx, ds, cls, rows, rng) -> Updates:
    """A bow-tie (vertices 2 and 3 swapped), the shape moved out of the box, or cut-off WKT."""
    values = rows[cls.column]
    k = len(values)
    parts = pc.split_pattern(
        pc.utf8_slice_codeunits(values, 10, -2), ", "
    )  # inside "POLYGON ((...))"
    points = [pc.list_element(parts, i) for i in range(5)]
    bow_tie = text.join(
        "POLYGON ((", _join(points[0], points[2], points[1], points[3], points[0]), "))"
    )
    moved_points = []
    for point in points:
        lon_lat = pc.split_pattern(point, " ")
        lon = pc.cast(pc.list_element(lon_lat, 0), pa.float64()).to_numpy(zero_copy_only=False)
        moved_points.append(text.join(text.fixed(lon + 12.0, 6), " ", pc.list_element(lon_lat, 1)))
    moved = text.join("POLYGON ((", _join(*moved_points), "))")
    cut = pc.utf8_slice_codeunits(values, 0, 25)
    variant = rng.integers(0, 3, k)
    return {
        cls.column: pc.case_when(
            pc.make_struct(pa.array(variant == 0), pa.array(variant == 1)), bow_tie, moved, cut
        )
    }


def _join(*points: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*points, ", ")


def _future(values: pa.Array, year: str = FUTURE_YEAR) -> pa.Array:
    """Same month, day and time in ``year`` (29 Feb becomes 28 Feb: 2099 is not a leap year)."""
    moved = pc.utf8_replace_slice(values, 0, 4, year)
    return pc.replace_substring_regex(moved, r"^(\d{4})-02-29", r"\1-02-28")


def _not_future(ctx, ds, cls, rows, rng) -> Updates:
    updates: Updates = {cls.column: _future(rows[cls.column])}
    for check in ds.checks:
        first, second = check.columns
        if check.rule == PairRule.not_before and second == cls.column and ds.column(first).nullable:
            updates[first] = text.nulls(len(rows[first]))  # a later 'first' would need a future too
    return updates


def _parse(ctx, ds, cls, rows, rng) -> Updates:
    col = ds.column(cls.column)
    values = rows[cls.column]
    k = len(values)
    if col.type in (ColumnType.date, ColumnType.timestamp):
        month13 = pc.utf8_replace_slice(
            values, 5, 7, "13"
        )  # '2026-13-05...': distinct keys stay distinct
        if cls.column in ds.key:
            return {cls.column: month13}
        impossible = pc.utf8_replace_slice(month13, 7, 10, "-45")  # '2026-13-45...'
        return {
            cls.column: pc.if_else(pa.array(rng.random(k) < 0.6), impossible, pa.array(["n/a"] * k))
        }
    return {cls.column: text.pick(["n/a", "abc", "--"], rng.integers(0, 3, k))}


# --- pair rules -------------------------------------------------------------------------------


def _birth_mismatch(ctx, ds, cls, rows, rng) -> Updates:
    days = text.parse_dates(rows[cls.column]) - rng.integers(1, 400, len(rows[cls.column]))
    return {cls.column: text.dates(days)}


def _gender_mismatch(ctx, ds, cls, rows, rng) -> Updates:
    enum = ds.column(cls.column).enum or ("1", "2")
    flipped = pc.if_else(pc.equal(rows[cls.column], enum[0]), enum[1], enum[0])
    return {cls.column: flipped}


def _not_before(ctx, ds, cls, rows, rng) -> Updates:
    """First column strictly earlier than the second."""
    later = rows[cls.partner]
    k = len(later)
    if ds.column(cls.partner).type == ColumnType.date:
        return {cls.column: text.dates(text.parse_dates(later) - rng.integers(1, 365, k))}
    return {
        cls.column: text.timestamps(text.parse_timestamps(later) - rng.integers(60, 5 * 86_400, k))
    }


def _holder_kind(ctx, ds, cls, rows, rng) -> Updates:
    """Keep the (valid) identifier, claim the other holder kind."""
    enum = ds.column(cls.partner).enum or ("person", "entity")
    kind = rows[cls.partner]
    return {cls.partner: pc.if_else(pc.equal(kind, enum[0]), enum[1], enum[0])}


def _outside_box(ctx, ds, cls, rows, rng) -> Updates:
    k = len(rows[cls.column])
    west = rng.random(k) < 0.5
    lon = np.where(west, LON_MIN - rng.uniform(0.05, 2, k), LON_MAX + rng.uniform(0.05, 2, k))
    return {cls.column: text.fixed(lon, 6)}


INJECTORS: dict[str, Injector] = {
    "not_null": _not_null,
    "in_set": _in_set,
    "pattern": _pattern,
    "range": _range,
    "max_length": _max_length,
    "citizen_id": _citizen_id,
    "uscc": _uscc,
    "division_code": _division_code,
    "wkt_polygon": _wkt_polygon,
    "not_future": _not_future,
    "parse": _parse,
    PairRule.birth_date_matches_id.value: _birth_mismatch,
    PairRule.gender_matches_id.value: _gender_mismatch,
    PairRule.not_before.value: _not_before,
    PairRule.holder_id_matches_kind.value: _holder_kind,
    PairRule.in_city_box.value: _outside_box,
}
