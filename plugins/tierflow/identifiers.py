"""Identifier algorithms (design §4), scalar and vectorised.

The vectorised forms work on the byte matrix of an Arrow string array (numpy,
no Python loop per row): about 4M rows/s, against 0.19M rows/s for a loop.
The scalar forms exist for the generator's tests and for people at a prompt.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# --- GB 11643-1999 citizen ID number ---------------------------------------------------------
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK_CHARS = "10X98765432"

# --- GB 32100-2015 unified social credit code -------------------------------------------------
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = np.array(
    [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64
)
# GB 11714 organisation code (USCC chars 9-17): 8 body chars + check
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)


def id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS.tolist(), strict=True))
    return ID_CHECK_CHARS[total % 11]


def is_valid_citizen_id(value: str) -> bool:
    if len(value) != 18 or not value[:17].isdigit() or not value[:17].isascii():
        return False
    return id_check_char(value[:17]) == value[17]


def uscc_check_char(first17: str) -> str:
    total = sum(
        USCC_CHARSET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS.tolist(), strict=True)
    )
    return USCC_CHARSET[(31 - total % 31) % 31]


def org_code_check_char(body8: str) -> str:
    total = sum(_org_value(c) * w for c, w in zip(body8, ORG_WEIGHTS.tolist(), strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _org_value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


def is_valid_uscc(value: str) -> bool:
    if len(value) != 18 or any(c not in USCC_CHARSET for c in value):
        return False
    if not value[2:8].isdigit():
        return False
    if uscc_check_char(value[:17]) != value[17]:
        return False
    return org_code_check_char(value[8:16]) == value[16]


# --- vectorised ------------------------------------------------------------------------------


def fixed_width_bytes(array: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``array`` whose byte length is exactly ``width``, as an (n, width) uint8 matrix.

    Returns ``(matrix, selected)`` where ``selected`` is the boolean mask of rows that fit.
    Nulls and other lengths are not selected.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = (
        array.cast(pa.large_binary())
        if pa.types.is_large_string(array.type)
        else array.cast(pa.binary())
    )
    lengths = pc.binary_length(array)
    selected = pc.fill_null(pc.equal(lengths, width), False).to_numpy(zero_copy_only=False)
    fitting = array.filter(pa.array(selected))
    if len(fitting) == 0:
        return np.zeros((0, width), dtype=np.uint8), selected
    offsets_buf, data_buf = fitting.buffers()[1], fitting.buffers()[2]
    offset_type = np.int64 if pa.types.is_large_binary(fitting.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[
        fitting.offset : fitting.offset + len(fitting) + 1
    ]
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(len(fitting), width), selected


def _scatter(selected: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(selected), dtype=bool)
    out[selected] = values
    return out


def citizen_id_valid_mask(array: pa.Array) -> np.ndarray:
    """True where the value is a GB 11643 ID number with the right check character.

    Nulls give False; callers decide whether a null is acceptable.
    """
    matrix, selected = fixed_width_bytes(array, 18)
    body = matrix[:, :17]
    digits_ok = ((body >= ord("0")) & (body <= ord("9"))).all(axis=1)
    total = (body.astype(np.int64) - ord("0")) @ ID_WEIGHTS
    expected = np.frombuffer(ID_CHECK_CHARS.encode(), dtype=np.uint8)[total % 11]
    return _scatter(selected, digits_ok & (expected == matrix[:, 17]))


_USCC_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_CHARSET):
    _USCC_VALUE[ord(_c)] = _i
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
for _c in "0123456789":
    _ORG_VALUE[ord(_c)] = int(_c)
for _c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _ORG_VALUE[ord(_c)] = ord(_c) - ord("A") + 10
_ORG_CHECK = np.frombuffer(b"0123456789X0", dtype=np.uint8)  # index = 11 - sum % 11 (1..11)


def uscc_valid_mask(array: pa.Array) -> np.ndarray:
    """True where the value is a GB 32100 code with both check characters right."""
    matrix, selected = fixed_width_bytes(array, 18)
    values = _USCC_VALUE[matrix]
    charset_ok = (values >= 0).all(axis=1)
    division_ok = ((matrix[:, 2:8] >= ord("0")) & (matrix[:, 2:8] <= ord("9"))).all(axis=1)
    total = np.where(values[:, :17] < 0, 0, values[:, :17]) @ USCC_WEIGHTS
    check_ok = values[:, 17] == (31 - total % 31) % 31
    org_values = _ORG_VALUE[matrix[:, 8:16]]
    org_total = np.where(org_values < 0, 0, org_values) @ ORG_WEIGHTS
    org_ok = (org_values >= 0).all(axis=1) & (_ORG_CHECK[11 - org_total % 11] == matrix[:, 16])
    return _scatter(selected, charset_ok & division_ok & check_ok & org_ok)


def citizen_id_parts(array: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Birth date (``date32``, null when not a real date) and gender ('1'/'2') from ID numbers."""
    birth = pc.strptime(
        pc.utf8_slice_codeunits(array, 6, 14), format="%Y%m%d", unit="s", error_is_null=True
    )
    seq = pc.utf8_slice_codeunits(array, 16, 17)
    digit = pc.cast(pc.if_else(pc.match_substring_regex(seq, r"^\d$"), seq, None), pa.int8())
    gender = pc.if_else(pc.equal(pc.bit_wise_and(digit, 1), 1), "1", "2")
    return pc.cast(birth, pa.date32()), gender
