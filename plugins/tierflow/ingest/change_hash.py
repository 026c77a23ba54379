"""The change hash of an accepted pool row: 64 bits over its data columns, in Arrow and numpy.

Every accepted row gets ``_change_hash`` (bigint) as it is written to the pool
(:meth:`tierflow.ingest.writer.DeliveryWriter.copy`): a hash of the values of the contract's
columns as stored (after parsing, ``updated_at`` included; not ``_delivery_id`` nor
``_row_number``). The merge compares, per touched key and source, the newest row of the new
deliveries with the newest row it merged before: equal hashes mean equal rows, so the key's
golden record cannot change and survivorship skips it (``tierflow.merge.plan``).

How: each value becomes a 64-bit word, hashed by the splitmix64 finaliser together with its
column's position; text is cut into 8-byte words (zero-padded per value), each word mixed with
its position in the value, summed per value (mod 2^64) and mixed with the value's length. A
null has its own word. The row's hash folds its columns in order. Arithmetic wraps in uint64;
nothing loops per row or per byte in Python. For two different rows the chance of equal
hashes is about 2^-64 (each (position, word) pair maps to an independent-looking 64-bit
value); the hash is not keyed, so a deliverer who wanted to could craft a collision (a
department's extract is not an adversary here; a collision would leave one change unmerged
until the key's next change). ``HASH_VERSION`` is mixed in: changing the function means
bumping it, and rows hashed before then compare as changed (once), never as equal.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HASH_VERSION = 1
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NULL = np.uint64(0x6A09E667F3BCC909)  # the word of a null value (fractional bits of sqrt 2)
_TEXT = np.uint64(0xBB67AE8584CAA73B)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on a uint64 array (wrapping)."""
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def _text_words(column: pa.Array) -> np.ndarray:
    """Per value of a string array: the mixed sum of its 8-byte words and its length.

    The words are read where they lie in Arrow's data buffer (an unaligned uint64 view of
    it, one gather per word, 8x fewer elements than bytes), the last word of each value
    masked to the bytes that are the value's.
    """
    if pa.types.is_large_string(column.type):
        offset_type = np.int64
    else:
        column = column.cast(pa.string())
        offset_type = np.int32
    n = len(column)
    _, offsets_buffer, data_buffer = column.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[
        column.offset : column.offset + n + 1
    ]
    offsets = offsets.astype(np.int64)
    first, last = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets)
    words_per_value = (lengths + 7) // 8
    word_ends = np.cumsum(words_per_value)
    word_starts = word_ends - words_per_value
    total_words = int(word_ends[-1]) if n else 0
    data = np.zeros(last - first + 8, dtype=np.uint8)  # 8 bytes of room for the last word
    if last > first:
        data[: last - first] = np.frombuffer(data_buffer, dtype=np.uint8)[first:last]
    unaligned = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    word_in_value = np.arange(total_words, dtype=np.int64) - np.repeat(word_starts, words_per_value)
    value_start = np.repeat(offsets[:-1] - first, words_per_value)
    words = unaligned[value_start + 8 * word_in_value]
    # the last word of a value keeps only its own bytes (little-endian: the low ones)
    tail = lengths - 8 * (words_per_value - 1)  # 1..8 bytes in each non-empty value's last word
    has_words = words_per_value > 0
    keep = np.where(
        tail >= 8,
        np.uint64(0xFFFFFFFFFFFFFFFF),
        (np.uint64(1) << (8 * tail).astype(np.uint64)) - np.uint64(1),
    )
    words[word_ends[has_words] - 1] &= keep[has_words]
    longest = int(words_per_value.max()) if n else 0
    position_keys = _mix((np.arange(longest, dtype=np.uint64) + np.uint64(1)) * _GOLDEN)
    words ^= position_keys[word_in_value]
    _mix(words)
    sums = np.concatenate([np.zeros(1, np.uint64), np.cumsum(words, dtype=np.uint64)])
    per_value = sums[word_ends] - sums[word_starts]
    per_value ^= _mix(lengths.astype(np.uint64) ^ _TEXT)
    return _mix(per_value)


def _fixed_words(column: pa.Array) -> np.ndarray:
    """Per value of a fixed-width array (integers, floats, dates, timestamps): its bits."""
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date64(kind):
        column = column.cast(pa.int64())
    elif pa.types.is_date32(kind):
        column = column.cast(pa.int32()).cast(pa.int64())
    elif pa.types.is_boolean(kind) or pa.types.is_integer(kind):
        column = column.cast(pa.int64())
    elif pa.types.is_floating(kind):
        column = column.cast(pa.float64())
    else:
        raise TypeError(f"no change hash for Arrow type {kind}")
    filled = column.fill_null(0) if column.null_count else column
    bits = np.asarray(filled.to_numpy(zero_copy_only=False)).view(np.uint64).copy()
    bits ^= _GOLDEN
    return _mix(bits)


def _column_words(column: pa.Array) -> np.ndarray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        words = _text_words(column)
    else:
        words = _fixed_words(column)
    if column.null_count:
        valid = np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=bool)
        words[~valid] = _NULL
    return words


def change_hash(table: pa.Table, columns: list[str]) -> pa.Array:
    """The change hash (int64) of each row of ``table`` over ``columns``, in that order."""
    n = table.num_rows
    with np.errstate(over="ignore"):
        row = np.full(n, np.uint64(HASH_VERSION) * _GOLDEN, dtype=np.uint64)
        for position, name in enumerate(columns):
            column = table.column(name).combine_chunks()
            words = _column_words(column)
            words += np.uint64(position + 1) * _GOLDEN
            row = _mix(row * _M1 + _mix(words))
    return pa.array(row.view(np.int64), pa.int64())
