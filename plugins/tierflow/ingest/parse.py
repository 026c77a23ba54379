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

SHANGHAI_OFFSET_MINUTES = 8 * 60
MIN_YEAR, MAX_YEAR = 1800, 2999
_FULL_WIDTH = "[\uff01-\uff5e\u3000]"
_FULL_TO_HALF = [(chr(c), chr(c - 0xFEE0)) for c in range(0xFF01, 0xFF5F)] + [("\u3000", " ")]
_INTEGER = r"^[+-]?\d{1,18}$"
_DECIMAL = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$"
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
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
    """Full-width forms to ASCII, touching only the (rare) rows that contain any."""
    has = pc.fill_null(pc.match_substring_regex(values, _FULL_WIDTH), False)
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


def _plausible(values: pa.Array) -> pa.Array:
    """Arrow normalises impossible dates (2026-02-30 becomes 03-01); keep calendar years sane too."""
    return pc.and_(
        pc.greater_equal(pc.year(values), MIN_YEAR), pc.less_equal(pc.year(values), MAX_YEAR)
    )


def _parse_date(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    result = None
    for fmt in _DATE_FORMATS:
        parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        exact = pc.and_(pc.equal(pc.strftime(parsed, format=fmt), text), _plausible(parsed))
        parsed = pc.if_else(exact, parsed, None)
        result = parsed if result is None else pc.coalesce(result, parsed)
    dates = pc.cast(result, pa.date32())
    return dates, _np(pc.is_valid(text)) & ~_np(pc.is_valid(dates))


def _parse_timestamp(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    parts = pc.extract_regex(text, _TIMESTAMP)
    field = lambda name: pc.struct_field(parts, name)  # noqa: E731
    seconds = pc.if_else(pc.equal(field("sec"), ""), ":00", field("sec"))
    wall = pc.binary_join_element_wise(field("date"), " ", field("hm"), seconds, "")
    # whole seconds here so the round trip compares like with like; the fraction is added below
    naive = pc.strptime(wall, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    exact = pc.and_(
        pc.equal(pc.strftime(naive, format="%Y-%m-%d %H:%M:%S"), wall), _plausible(naive)
    )
    naive = pc.if_else(exact, naive, None)
    micros = pc.cast(pc.cast(naive, pa.timestamp("us")), pa.int64())
    frac = pc.utf8_slice_codeunits(pc.binary_join_element_wise(field("frac"), "000000", ""), 1, 7)
    micros = pc.add(micros, pc.cast(pc.if_else(pc.equal(field("frac"), ""), "0", frac), pa.int64()))
    tz = field("tz")
    digits = pc.replace_substring(pc.utf8_slice_codeunits(tz, 1, 6), ":", "")
    hours = pc.cast(
        pc.if_else(
            pc.greater(pc.utf8_length(digits), 0), pc.utf8_slice_codeunits(digits, 0, 2), "0"
        ),
        pa.int64(),
    )
    mins = pc.cast(
        pc.if_else(
            pc.greater(pc.utf8_length(digits), 0), pc.utf8_slice_codeunits(digits, 2, 4), "0"
        ),
        pa.int64(),
    )
    sign = pc.if_else(pc.starts_with(tz, "-"), -1, 1)
    offset = pc.multiply(sign, pc.add(pc.multiply(hours, 60), mins))
    offset = pc.if_else(
        pc.equal(tz, ""), SHANGHAI_OFFSET_MINUTES, pc.if_else(pc.equal(tz, "Z"), 0, offset)
    )
    utc = pc.subtract(micros, pc.multiply(offset, 60_000_000))
    stamps = pc.cast(utc, pa.timestamp("us", tz="UTC"))
    return stamps, _np(pc.is_valid(text)) & ~_np(pc.is_valid(stamps))


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
