"""Normalise delivered values and parse them into their contract types, vectorised.

Normalisation (the rows still count as accepted): trim; empty means null; full-width
digits, letters and punctuation to half-width in identifiers and codes; a lower-case
``x`` check character to ``X``. Parsing: integers, decimals (scientific notation allowed),
dates (ISO, ``/`` or compact), ISO 8601 timestamps to UTC where a value without an
offset is Asia/Shanghai. A value that does not parse is a failure of ``<column>:parse``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierflow.contracts import Column, ColumnType, Dataset, Semantic
from tierflow.identifiers import days_since_epoch, is_calendar_date

SHANGHAI_OFFSET_MINUTES = 8 * 60
MIN_YEAR, MAX_YEAR = 1800, 2999
_FULL_WIDTH = "[\uff01-\uff5e\u3000]"
_FULL_TO_HALF = [(chr(c), chr(c - 0xFEE0)) for c in range(0xFF01, 0xFF5F)] + [("\u3000", " ")]
_INTEGER = r"^[+-]?\d{1,18}$"
_DECIMAL = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$"
_TIMESTAMP = (
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<hm>\d{2}:\d{2})(?P<sec>:\d{2})?(?P<frac>\.\d{1,6})?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
PARSED_TYPES = {
    ColumnType.string: pa.string(),
    ColumnType.integer: pa.int64(),
    ColumnType.decimal: pa.float64(),
    ColumnType.date: pa.date32(),
    ColumnType.timestamp: pa.timestamp("us", tz="UTC"),
}


@dataclass
class Parsed:
    table: pa.Table  # contract columns, contract types
    parse_failures: dict[str, np.ndarray]  # column -> rows whose value did not parse
    normalised: np.ndarray  # rows where normalisation repaired a value


def _np(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _is_code(col: Column, dataset: Dataset) -> bool:
    return (
        col.semantic in (Semantic.citizen_id, Semantic.uscc, Semantic.division_code, Semantic.phone)
        or col.enum is not None
        or col.pattern is not None
        or col.name in dataset.key
        or col.type != ColumnType.string
    )


def to_half_width(values: pa.Array) -> pa.Array:
    """Full-width forms to ASCII, touching only the (rare) values that hold any.

    An ASCII scan first: far cheaper than the regex, which then runs only if something is not.
    """
    has = pc.invert(pc.fill_null(pc.string_is_ascii(values), True))
    if not pc.any(has).as_py():
        return values
    has = pc.and_(has, pc.fill_null(pc.match_substring_regex(values, _FULL_WIDTH), False))
    if not pc.any(has).as_py():
        return values
    subset = pc.filter(values, has)
    for full, half in _FULL_TO_HALF:
        subset = pc.replace_substring(subset, full, half)
    return pc.replace_with_mask(values, has, subset)


def normalise_text(values: pa.Array, col: Column, dataset: Dataset) -> pa.Array:
    out = pc.utf8_trim_whitespace(values)
    if _is_code(col, dataset):
        out = to_half_width(out)
        out = pc.utf8_trim_whitespace(out)
    if col.semantic == Semantic.citizen_id:
        out = pc.replace_substring_regex(out, r"^(\d{17})x$", r"\1X")
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def _parse_integer(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    ok = pc.match_substring_regex(text, _INTEGER)
    return pc.cast(pc.if_else(ok, text, None), pa.int64()), _np(pc.invert(ok))


def _parse_decimal(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    ok = pc.match_substring_regex(text, _DECIMAL)
    return pc.cast(pc.if_else(ok, text, None), pa.float64()), _np(pc.invert(ok))


_DATE_PATTERNS = (  # the contract's date forms: ISO, with slashes, compact
    r"^(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})$",
    r"^(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})$",
    r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$",
)


def _digits(values: pa.Array, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Digit-only text (or its slice) as int64; null and empty become 0 (callers mask them)."""
    if stop is not None:
        values = pc.utf8_slice_codeunits(values, start, stop)
    values = pc.if_else(pc.equal(values, ""), "0", values)
    return pc.fill_null(pc.cast(values, pa.int64()), 0).to_numpy(zero_copy_only=False)


def _valid_date(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """A real calendar day in a sane year (MIN_YEAR..MAX_YEAR), as a mask."""
    return is_calendar_date(year, month, day) & (year >= MIN_YEAR) & (year <= MAX_YEAR)


# Dates and times are checked and converted with integer arithmetic on their digits: the
# earlier strptime + strftime round trip (Arrow's strptime rolls 02-30 over to 03-01, so every
# value was formatted back and compared) was half of the ingest's parsing time.
def _parse_date(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    matched = np.zeros(len(text), dtype=bool)
    year = np.zeros(len(text), dtype=np.int64)
    month, day = year.copy(), year.copy()
    for pattern in _DATE_PATTERNS:
        parts = pc.extract_regex(text, pattern)
        hit = _np(pc.is_valid(parts)) & ~matched
        if hit.any():
            found = [_digits(pc.struct_field(parts, name)) for name in "ymd"]
            year, month, day = (
                np.where(hit, new, old) for new, old in zip(found, (year, month, day), strict=True)
            )
            matched |= hit
    ok = matched & _valid_date(year, month, day)
    days = np.where(ok, days_since_epoch(year, month, day), 0).astype(np.int32)
    dates = pa.array(days, pa.date32(), mask=~ok)
    return dates, _np(pc.is_valid(text)) & ~ok


def _parse_timestamp(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    parts = pc.extract_regex(text, _TIMESTAMP)
    matched = _np(pc.is_valid(parts))
    field = lambda name: pc.struct_field(parts, name)  # noqa: E731
    date, hm = field("date"), field("hm")
    year, month, day = _digits(date, 0, 4), _digits(date, 5, 7), _digits(date, 8, 10)
    hour, minute = _digits(hm, 0, 2), _digits(hm, 3, 5)
    second = _digits(pc.utf8_slice_codeunits(field("sec"), 1, 3))
    ok = matched & _valid_date(year, month, day) & (hour <= 23) & (minute <= 59) & (second <= 59)
    frac = pc.utf8_slice_codeunits(pc.binary_join_element_wise(field("frac"), "000000", ""), 1, 7)
    micros = _digits(frac)
    tz = field("tz")
    digits = pc.replace_substring(pc.utf8_slice_codeunits(tz, 1, 6), ":", "")
    offset = _digits(digits, 0, 2) * 60 + _digits(digits, 2, 4)
    offset = np.where(_np(pc.starts_with(tz, "-")), -offset, offset)
    offset = np.where(_np(pc.equal(tz, "Z")), 0, offset)
    offset = np.where(_np(pc.equal(tz, "")), SHANGHAI_OFFSET_MINUTES, offset)
    seconds = days_since_epoch(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
    utc = (seconds - offset * 60) * 1_000_000 + micros
    stamps = pa.array(np.where(ok, utc, 0), pa.timestamp("us", tz="UTC"), mask=~ok)
    return stamps, _np(pc.is_valid(text)) & ~ok


_PARSERS = {
    ColumnType.integer: _parse_integer,
    ColumnType.decimal: _parse_decimal,
    ColumnType.date: _parse_date,
    ColumnType.timestamp: _parse_timestamp,
}


def _typed(values: pa.Array, col: Column) -> tuple[pa.Array, np.ndarray] | None:
    """Columns that arrive already typed (Parquet): cast without a text round trip when it fits."""
    target = PARSED_TYPES[col.type]
    t = values.type
    if col.type == ColumnType.timestamp and pa.types.is_timestamp(t):
        if t.tz is None:
            values = pc.assume_timezone(
                values, "Asia/Shanghai", ambiguous="earliest", nonexistent="earliest"
            )
        return pc.cast(values, target), np.zeros(len(values), dtype=bool)
    if col.type == ColumnType.date and pa.types.is_date(t):
        return pc.cast(values, target), np.zeros(len(values), dtype=bool)
    if col.type == ColumnType.integer and pa.types.is_integer(t):
        return pc.cast(values, target), np.zeros(len(values), dtype=bool)
    if col.type == ColumnType.decimal and (
        pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)
    ):
        return pc.cast(values, target), np.zeros(len(values), dtype=bool)
    return None


def parse_batch(raw: pa.Table, dataset: Dataset) -> Parsed:
    arrays: list[pa.Array] = []
    failures: dict[str, np.ndarray] = {}
    normalised = np.zeros(raw.num_rows, dtype=bool)
    for col in dataset.columns:
        values = raw.column(col.name).combine_chunks()
        typed = (
            None
            if pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
            else _typed(values, col)
        )
        if typed is not None:
            parsed, failed = typed
        else:
            text = values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
            clean = normalise_text(text, col, dataset)
            if col.type != ColumnType.timestamp:
                normalised |= _np(
                    pc.and_(pc.is_valid(clean), pc.not_equal(clean, pc.utf8_trim_whitespace(text)))
                )
            else:
                normalised |= _np(pc.not_equal(clean, text))
            if col.type == ColumnType.string:
                parsed, failed = clean, np.zeros(raw.num_rows, dtype=bool)
            else:
                parsed, failed = _PARSERS[col.type](clean)
        arrays.append(parsed)
        if failed.any():
            failures[col.name] = failed
    table = pa.table(arrays, names=[c.name for c in dataset.columns])
    return Parsed(table, failures, normalised)
