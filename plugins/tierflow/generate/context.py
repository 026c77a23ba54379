"""Shared state of one generator run: dates, the division tier and the join pools.

Pools hold only keys of rows written *clean* (no defect, not a normalisation
case), so every foreign key another dataset draws (an ID number, a USCC) exists,
unaltered, in the file it comes from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from tierflow.generate import ids

if TYPE_CHECKING:
    from tierflow.contracts import Catalog
    from tierflow.generate.divisions import Tier

EPOCH = dt.date(1970, 1, 1)


def yyyymmdd(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 -> YYYYMMDD integers."""
    d64 = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    years = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
    return years * 10000 + months * 100 + day


def days_from_yyyymmdd(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    months = ((values // 10000 - 1970) * 12 + (values // 100) % 100 - 1).astype("datetime64[M]")
    return (months.astype("datetime64[D]").astype(np.int64)) + values % 100 - 1


@dataclass
class PersonPool:
    """ID bodies (int64) of clean household rows, with their status code."""

    parts: list[np.ndarray] = field(default_factory=list)
    status_parts: list[np.ndarray] = field(default_factory=list)
    _bodies: np.ndarray | None = None
    _status: np.ndarray | None = None

    def add(self, bodies: np.ndarray, status: np.ndarray) -> None:
        self.parts.append(bodies)
        self.status_parts.append(status)
        self._bodies = None

    @property
    def bodies(self) -> np.ndarray:
        if self._bodies is None:
            self._bodies = np.concatenate(self.parts) if self.parts else np.zeros(0, np.int64)
            self._status = (
                np.concatenate(self.status_parts) if self.status_parts else np.zeros(0, np.int8)
            )
        return self._bodies

    @property
    def status(self) -> np.ndarray:
        _ = self.bodies
        assert self._status is not None
        return self._status


@dataclass
class Context:
    seed: int
    as_of: dt.date
    catalog: Catalog
    tier: Tier
    scale: int
    persons: PersonPool = field(default_factory=PersonPool)
    # clean USCCs per dataset id (enterprise, social org)
    entities: dict[str, list[pa.Array]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    # per-run derived arrays shared by a dataset's chunks (e.g. a key permutation)
    cache: dict[str, object] = field(default_factory=dict)

    @property
    def today(self) -> int:
        """as_of as days since 1970-01-01."""
        return (self.as_of - EPOCH).days

    @property
    def end_of_day(self) -> int:
        """Last second of as_of, local wall clock seconds since epoch: nothing clean is later."""
        return self.today * 86_400 + 86_399

    @property
    def today_yyyymmdd(self) -> int:
        return self.as_of.year * 10000 + self.as_of.month * 100 + self.as_of.day

    def recent_seconds(
        self, rng: np.random.Generator, n: int, not_before: np.ndarray | None = None
    ) -> np.ndarray:
        """updated_at-like instants: 90% within the last 30 days, the rest up to 3 years back."""
        back = np.where(
            rng.random(n) < 0.9, rng.random(n) * 30 * 86_400, rng.random(n) * 3 * 365 * 86_400
        )
        seconds = self.end_of_day - back.astype(np.int64)
        if not_before is not None:
            seconds = np.maximum(seconds, np.minimum(not_before, self.end_of_day))
        return seconds

    def entity_pool(self, *dataset_ids: str) -> pa.Array:
        chunks = [a for d in dataset_ids for a in self.entities.get(d, [])]
        return pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())

    def person_sample(
        self,
        rng: np.random.Generator,
        n: int,
        min_age: int = 0,
        max_age: int = 200,
        replace: bool = True,
    ) -> np.ndarray:
        """ID bodies of clean household persons aged [min_age, max_age] (falls back to everyone)."""
        bodies = self.persons.bodies
        if bodies.size == 0:
            raise RuntimeError("no clean household rows to draw persons from")
        birth = ids.body_birth(bodies)
        ok = (birth <= self.today_yyyymmdd - min_age * 10000) & (
            birth > self.today_yyyymmdd - (max_age + 1) * 10000
        )
        # too few of that age (tiny scales, high defect rates): widen to everyone
        enough = ok.sum() >= (n if not replace else 1)
        candidates = bodies[ok] if enough else bodies
        if not replace:  # distinct people (a key): at most everyone available
            return rng.permutation(candidates)[:n]
        return candidates[rng.integers(0, candidates.size, n)]
