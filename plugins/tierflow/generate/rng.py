"""Deterministic randomness: one generator per (seed, dataset, chunk), counter hashes.

Every chunk draws from its own ``numpy`` generator keyed by the run seed, a stable
hash of the dataset id and the chunk number, so the bytes written never depend on
the chunk being produced in a different order or on Python's hash randomisation.
"""

from __future__ import annotations

import zlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def stream(seed: int, *labels: str | int) -> np.random.Generator:
    """An independent generator for ``seed`` and a path of labels (dataset, chunk...)."""
    words = [seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF]
    for label in labels:
        words.append(
            zlib.crc32(label.encode()) if isinstance(label, str) else int(label) & 0xFFFFFFFF
        )
    return np.random.default_rng(np.random.SeedSequence(words))


def splitmix64(values: np.ndarray, salt: int = 0) -> np.ndarray:
    """Stateless 64-bit mix of each value: a per-row hash usable for any index array."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(salt & 0xFFFFFFFFFFFFFFFF) * _GOLDEN + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def unit(hashes: np.ndarray, shift: int = 0) -> np.ndarray:
    """A uniform [0, 1) float from 24 bits of a hash (different ``shift`` = independent draw)."""
    return ((hashes >> np.uint64(shift)) & np.uint64(0xFFFFFF)).astype(np.float64) / float(1 << 24)


def weighted_index(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Inverse-CDF lookup: index i with probability weights[i] / sum, from uniforms ``u``."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    return np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), len(cdf) - 1)


class CellCounter:
    """Hands out distinct serial numbers per cell across chunks (no global set of keys).

    Keys are built as ``cell + serial``; the serial is the running count of rows
    already placed in that cell, so keys are unique by construction and the memory
    is one small integer per cell, whatever the number of rows.
    """

    def __init__(self, n_cells: int) -> None:
        self.counts = np.zeros(n_cells, dtype=np.int64)

    def take(self, cells: np.ndarray) -> np.ndarray:
        """Serial of each row within its cell: 0, 1, 2... continuing from earlier chunks."""
        cells = np.asarray(cells, dtype=np.int64)
        order = np.argsort(cells, kind="stable")
        sorted_cells = cells[order]
        first = np.searchsorted(sorted_cells, sorted_cells, side="left")
        rank = np.empty(cells.size, dtype=np.int64)
        rank[order] = np.arange(cells.size) - first
        serial = self.counts[cells] + rank
        self.counts += np.bincount(cells, minlength=self.counts.size)
        return serial
