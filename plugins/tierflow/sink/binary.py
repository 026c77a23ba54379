"""Rows of ``COPY … TO STDOUT (format binary)`` turned into Arrow columns with numpy.

Binary COPY spares the server formatting text (timestamps, dates, floats, the pseudonyms'
hex) and the sink parsing it back. Each row is an int16 field count, then per field an
int32 length (-1: NULL) and that many bytes, all big-endian. Given where each row starts
(the COPY loop knows: one message per row), the fields are walked one column at a time
for all the rows of a block at once, so no Python runs per row. Text becomes Arrow
``string_view`` pointing into the block (strings up to 12 bytes inline), then plain
strings; fixed-width values are gathered and byte-swapped; a SHA-256 digest (32 bytes)
becomes its lowercase hex, as ``encode(…, 'hex')`` would have sent it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Sequence

Wire = Literal["text", "smallint", "date", "double", "bigint", "timestamp", "digest"]
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER_BYTES = len(SIGNATURE) + 8  # flags, header extension length (always 0 so far)
_PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_WIDTH = {"smallint": 2, "date": 4, "double": 8, "bigint": 8, "timestamp": 8, "digest": 32}


_PAD = 32  # zero bytes after a block: every read of up to 32 bytes stays inside
# two hex digits per byte value, as one little-endian uint16 (first digit in the low byte)
_HEX_PAIRS = (_HEX[np.arange(256) >> 4].astype(np.uint16)) | (
    _HEX[np.arange(256) & 0x0F].astype(np.uint16) << 8
)
# keeps the first n of 12 inline bytes (as three uint32 words), n = 0..12
_KEEP = np.frombuffer(
    b"".join(b"\xff" * n + b"\x00" * (12 - n) for n in range(13)), dtype=np.uint32
).reshape(13, 3)


def _at(buf: bytes, at: np.ndarray, dtype: str) -> np.ndarray:
    """The value of ``dtype`` starting at each byte offset (an overlapping strided view)."""
    width = np.dtype(dtype).itemsize
    every = np.ndarray(shape=(len(buf) - _PAD,), dtype=dtype, buffer=buf, offset=0, strides=(1,))
    assert width <= _PAD
    return every[at]


def _validity(valid: np.ndarray) -> tuple[pa.Buffer | None, int]:
    nulls = int(valid.size - np.count_nonzero(valid))
    return (pa.array(valid).buffers()[1] if nulls else None), nulls


def _fixed(buf: bytes, at: np.ndarray, valid: np.ndarray, wire: Wire) -> pa.Array:
    if wire == "smallint":
        values = _at(buf, at, ">i2").astype(np.int16)
        arrow_type: pa.DataType = pa.int16()
    elif wire == "date":
        values = _at(buf, at, ">i4").astype(np.int32) + _PG_EPOCH_DAYS
        arrow_type = pa.date32()
    elif wire == "double":
        values = _at(buf, at, ">f8").astype(np.float64)
        arrow_type = pa.float64()
    elif wire == "bigint":
        values = _at(buf, at, ">i8").astype(np.int64)
        arrow_type = pa.int64()
    else:
        values = _at(buf, at, ">i8").astype(np.int64) + _PG_EPOCH_US
        arrow_type = pa.timestamp("us", tz="UTC")
    bitmap, nulls = _validity(valid)
    return pa.Array.from_buffers(arrow_type, values.size, [bitmap, pa.py_buffer(values)], nulls)


def _digest_hex(buf: bytes, at: np.ndarray, valid: np.ndarray) -> pa.Array:
    raw = _at(buf, at[valid], "V32").view(np.uint8).reshape(-1, 32)
    text = _HEX_PAIRS[raw]  # (rows, 32) uint16: 64 hex digits per row
    offsets = np.zeros(valid.size + 1, dtype=np.int32)
    np.cumsum(valid.astype(np.int32) * 64, out=offsets[1:])
    bitmap, nulls = _validity(valid)
    return pa.Array.from_buffers(
        pa.string(), valid.size, [bitmap, pa.py_buffer(offsets), pa.py_buffer(text)], nulls
    )


def _text(
    block: pa.Buffer, buf: bytes, at: np.ndarray, length: np.ndarray, valid: np.ndarray
) -> pa.Array:
    rows = at.size
    views = np.empty((rows, 4), dtype=np.uint32)  # Arrow's 16-byte string views
    views[:, 0] = length
    head = _at(buf, at, "V12").view(np.uint32).reshape(rows, 3)
    head &= _KEEP[np.minimum(length, 12)]  # inline strings are zero-padded
    long = length > 12  # the first 4 bytes stay as the prefix; then buffer 0 and the offset
    views[:, 1] = head[:, 0]
    views[:, 2] = np.where(long, 0, head[:, 1])
    views[:, 3] = np.where(long, at, head[:, 2])
    bitmap, nulls = _validity(valid)
    array = pa.Array.from_buffers(
        pa.string_view(), rows, [bitmap, pa.py_buffer(views), block], nulls
    )
    return array.cast(pa.string())


def parse_rows(block: bytes, starts: np.ndarray, fields: Sequence[tuple[str, Wire]]) -> pa.Table:
    """The rows starting at ``starts`` (offsets into ``block``, each at a row's field count)
    as a table of ``fields``; ``block`` must not hold the header or the trailer."""
    buf = block + bytes(_PAD)
    shared = pa.py_buffer(buf)
    if starts.size and len(buf) >= 2**31:
        raise ValueError("a block must stay under 2 GiB (string views hold 32-bit offsets)")
    at = starts.astype(np.int32)
    if at.size:
        counts = _at(buf, at, ">i2")
        if (counts != len(fields)).any():
            raise ValueError(f"binary COPY rows do not have {len(fields)} fields")
    at += 2
    columns = []
    for _name, wire in fields:
        length = _at(buf, at, ">i4").astype(np.int32)
        at += 4
        valid = length >= 0
        np.maximum(length, 0, out=length)  # a NULL has no bytes
        if at.size and int((at + length).max()) > len(block):
            raise ValueError("a binary COPY field runs past its block")
        if wire == "text":
            columns.append(_text(shared, buf, at, length, valid))
        elif wire == "digest":
            if (length[valid] != 32).any():
                raise ValueError("a digest field is not 32 bytes")
            columns.append(_digest_hex(buf, at, valid))
        else:
            if (length[valid] != _WIDTH[wire]).any():
                raise ValueError(f"a {wire} field is not {_WIDTH[wire]} bytes")
            columns.append(_fixed(buf, at, valid, wire))
        at += length
    return pa.Table.from_arrays(columns, names=[name for name, _wire in fields])
