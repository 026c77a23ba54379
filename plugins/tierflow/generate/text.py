"""Vectorised text rendering: numbers, dates and timestamps to Arrow strings.

Every dataset is built as Arrow string columns in canonical text form; defects
and normalisation cases edit those strings, and the writer casts them back to
contract types for Parquet. Keeping one representation keeps the three output
formats identical in content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from collections.abc import Sequence

TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
SECONDS_PER_DAY = 86_400

_FULL_WIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, "")


def pick(choices: Sequence[str], index: np.ndarray) -> pa.Array:
    return pa.array(list(choices), pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))


def integer(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def zero_pad(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(integer(values), width=width, padding="0")


def fixed(values: np.ndarray, decimals: int) -> pa.Array:
    """Decimal text with exactly ``decimals`` places (integer arithmetic: no '1e+08')."""
    scale = 10**decimals
    scaled = np.round(np.asarray(values, dtype=np.float64) * scale).astype(np.int64)
    negative = scaled < 0
    magnitude = np.abs(scaled)
    whole = integer(magnitude // scale)
    if decimals:
        whole = join(whole, ".", zero_pad(magnitude % scale, decimals))
    return pc.if_else(pa.array(negative), join("-", whole), whole)


def dates(days: np.ndarray) -> pa.Array:
    """'YYYY-MM-DD' from days since 1970-01-01."""
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32()).cast(pa.string())


def timestamps(seconds: np.ndarray) -> pa.Array:
    """ISO 8601 local time without offset (design §5: means Asia/Shanghai)."""
    # the cast renders 'YYYY-MM-DD HH:MM:SS' ten times faster than strftime; then ' ' -> 'T'
    rendered = pa.array(np.asarray(seconds, dtype=np.int64), pa.timestamp("s")).cast(pa.string())
    return pc.utf8_replace_slice(rendered, 10, 11, "T")


def parse_timestamps(values: pa.Array) -> np.ndarray:
    """Seconds since epoch (local wall clock) of canonical timestamp text."""
    parsed = pc.strptime(values, format=TS_FORMAT, unit="s")
    return parsed.cast(pa.int64()).to_numpy(zero_copy_only=False)


def parse_dates(values: pa.Array) -> np.ndarray:
    return pc.cast(values, pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)


def full_width(values: pa.Array) -> pa.Array:
    """ASCII letters and digits to their full-width forms ('5001' -> '５００１')."""
    # one pass per character keeps this vectorised; it only runs on the few normalised rows
    for ascii_char in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        values = pc.replace_substring(values, ascii_char, _FULL_WIDTH[ascii_char])
    return values


def nulls(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())
