"""Vectorised GB 11643 ID numbers and GB 32100 unified social credit codes.

IDs are handled as int64 "bodies" (the first 17 digits) so a pool of millions of
people costs 8 bytes each; the check character is recomputed when rendering.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierflow.identifiers import (
    ID_CHECK_CHARS,
    ID_WEIGHTS,
    ORG_WEIGHTS,
    USCC_CHARSET,
    USCC_WEIGHTS,
    citizen_id_valid_mask,
)

_USCC_VALUES = {c: i for i, c in enumerate(USCC_CHARSET)}


def id_body(district: np.ndarray, birth_yyyymmdd: np.ndarray, sequence: np.ndarray) -> np.ndarray:
    """17-digit body: 6-digit district, 8-digit birth date, 3-digit sequence."""
    return (district.astype(np.int64) * 10**11) + birth_yyyymmdd.astype(np.int64) * 1000 + sequence


def id_strings(body: np.ndarray) -> pa.Array:
    """Render bodies as 18-char ID numbers with the GB 11643 check character."""
    # Arrow renders the digits faster than 17 numpy divisions would
    text = pc.utf8_lpad(
        pa.array(np.asarray(body, dtype=np.int64)).cast(pa.string()), width=17, padding="0"
    )
    matrix = np.empty((len(body), 18), dtype=np.uint8)
    matrix[:, :17] = string_matrix(text, 17)
    check = np.frombuffer(ID_CHECK_CHARS.encode(), dtype=np.uint8)[
        ((matrix[:, :17] - ord("0")) @ ID_WEIGHTS) % 11
    ]
    matrix[:, 17] = check
    return _fixed_strings(matrix)


def body_birth(body: np.ndarray) -> np.ndarray:
    """Birth date YYYYMMDD of each body."""
    return (body // 1000) % 10**8


def body_male(body: np.ndarray) -> np.ndarray:
    return (body % 2) == 1  # the 17th digit is the last of the body; odd = male


def body_district(body: np.ndarray) -> np.ndarray:
    return body // 10**11


def uscc_strings(
    authority: str, kinds: np.ndarray, district: np.ndarray, serial: np.ndarray, salt: int = 0
) -> pa.Array:
    """Valid USCCs: authority char, entity kind char, district, 8-digit org body + checks.

    ``serial`` must be distinct per code; an affine permutation spreads consecutive
    serials over the 10^8 organisation-code space so codes do not look sequential.
    """
    n = len(serial)
    body = (np.asarray(serial, dtype=np.int64) * 73_939_133 + 12_345_671 + salt * 1_000_003) % 10**8
    org_digits = (body[:, None] // 10 ** np.arange(7, -1, -1, dtype=np.int64)) % 10
    org_check = 11 - (org_digits @ ORG_WEIGHTS) % 11
    org_char = np.frombuffer(b"0123456789X0", dtype=np.uint8)[org_check]
    district_digits = (
        np.asarray(district, dtype=np.int64)[:, None] // 10 ** np.arange(5, -1, -1)
    ) % 10
    matrix = np.empty((n, 18), dtype=np.uint8)
    matrix[:, 0] = ord(authority)
    matrix[:, 1] = np.frombuffer("".join(kinds).encode(), dtype=np.uint8) if n else []
    matrix[:, 2:8] = district_digits + ord("0")
    matrix[:, 8:16] = org_digits + ord("0")
    matrix[:, 16] = org_char
    matrix[:, 17] = uscc_check_bytes(matrix[:, :17])
    # An all-digit code can also pass as a GB 11643 ID number; that would make
    # holder_id_matches_kind ambiguous. Map the first org digit to a letter there instead
    # (0->A ... 9->K, skipping I): still unique, and no longer 17 digits. "Could pass" on any
    # day (no upper bound on the date), so the bytes do not depend on the day they are made.
    ambiguous = citizen_id_valid_mask(_fixed_strings(matrix), today=dt.date.max)
    if ambiguous.any():
        rows = matrix[ambiguous]
        rows[:, 8] = np.frombuffer(b"ABCDEFGHJK", dtype=np.uint8)[rows[:, 8] - ord("0")]
        rows[:, 16] = org_check_bytes(rows[:, 8:16])
        rows[:, 17] = uscc_check_bytes(rows[:, :17])
        matrix[ambiguous] = rows
    return _fixed_strings(matrix)


_VALUE_OF = np.full(256, 0, dtype=np.int64)
for _c, _v in _USCC_VALUES.items():
    _VALUE_OF[ord(_c)] = _v
_CHARSET_BYTES = np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)


def uscc_check_bytes(first17: np.ndarray) -> np.ndarray:
    """The GB 32100 check byte for each row of a (n, 17) byte matrix."""
    total = _VALUE_OF[first17] @ USCC_WEIGHTS
    return _CHARSET_BYTES[(31 - total % 31) % 31]


def org_check_bytes(body8: np.ndarray) -> np.ndarray:
    """The GB 11714 check byte for each row of a (n, 8) byte matrix of digits/letters."""
    values = np.where(
        body8 <= ord("9"), body8.astype(np.int64) - ord("0"), body8.astype(np.int64) - ord("A") + 10
    )
    return np.frombuffer(b"0123456789X0", dtype=np.uint8)[11 - (values @ ORG_WEIGHTS) % 11]


def _fixed_strings(matrix: np.ndarray) -> pa.Array:
    n, width = matrix.shape
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(pa.string(), n, [None, offsets, pa.py_buffer(matrix.tobytes())])


def string_matrix(values: pa.Array, width: int) -> np.ndarray:
    """(n, width) byte matrix of fixed-width ASCII strings (all rows must have that width)."""
    raw = values.cast(pa.binary())
    data = np.frombuffer(raw.buffers()[2], dtype=np.uint8)
    offsets = np.frombuffer(raw.buffers()[1], dtype=np.int32)[
        raw.offset : raw.offset + len(raw) + 1
    ]
    return data[offsets[0] : offsets[-1]].reshape(len(raw), width).copy()


def from_matrix(matrix: np.ndarray) -> pa.Array:
    return _fixed_strings(np.ascontiguousarray(matrix, dtype=np.uint8))
