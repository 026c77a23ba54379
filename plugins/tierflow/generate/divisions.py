"""The generator's division tier: district -> township/street -> village/community.

The reference (``schemas/divisions.yaml``) stops at districts. Below them the
generator either builds a stable synthetic tier (independent of the run seed, so
every run agrees on which 12-digit codes exist) or uses the real 9-digit township
codes from the statistical table's CSV when one is given.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tierflow.generate import text
from tierflow.generate.names import PLACE_WORDS
from tierflow.generate.rng import stream

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from tierflow.contracts import DivisionReference

# Resident population (10k, 2020 census, rounded) drives where people and firms are.
POPULATION = {
    "500101": 156,
    "500102": 112,
    "500103": 59,
    "500104": 42,
    "500105": 93,
    "500106": 148,
    "500107": 153,
    "500108": 119,
    "500109": 83,
    "500110": 101,
    "500111": 83,
    "500112": 219,
    "500113": 118,
    "500114": 49,
    "500115": 69,
    "500116": 135,
    "500117": 124,
    "500118": 114,
    "500119": 57,
    "500120": 76,
    "500151": 69,
    "500152": 69,
    "500153": 67,
    "500154": 120,
    "500155": 65,
    "500156": 36,
    "500229": 20,
    "500230": 56,
    "500231": 65,
    "500233": 72,
    "500235": 93,
    "500236": 74,
    "500237": 46,
    "500238": 39,
    "500240": 39,
    "500241": 49,
    "500242": 60,
    "500243": 50,
    "509901": 60,
    "509902": 40,
    "509903": 25,
}
# The nine central districts and the zones are urban: more rows, more streets than towns.
URBAN = {
    "500103",
    "500104",
    "500105",
    "500106",
    "500107",
    "500108",
    "500109",
    "500112",
    "500113",
    "509901",
    "509902",
}
DEFAULT_POPULATION = 50  # a division added to the reference later still gets rows


@dataclass(frozen=True)
class Tier:
    codes: np.ndarray  # 6-digit district codes, reference order
    names: np.ndarray  # district names
    weights: np.ndarray  # sampling weight per district
    seats: np.ndarray  # (n, 2) lon/lat of each district's seat, NaN when unknown
    village_codes: np.ndarray  # 12-digit codes, grouped by district
    township_names: np.ndarray  # name of each village's township
    first_village: np.ndarray  # per district: index of its first village
    village_count: np.ndarray  # per district: number of villages
    # per district: index of the district whose GB/T 2260 code its residents' ID numbers and
    # its enterprises' credit codes carry: itself, or for a functional zone its host district
    # (internal 5099xx codes never appear inside an ID or a USCC, design §4)
    id_district: np.ndarray

    @property
    def id_codes(self) -> np.ndarray:
        """Per district: the 6-digit code (int64) inside its people's IDs and its firms' USCCs."""
        return self.codes.astype(np.int64)[self.id_district]

    def district_names(self, district: np.ndarray) -> pa.Array:
        return text.pick(self.names.tolist(), district)

    def villages(self, village: np.ndarray) -> pa.Array:
        """12-digit codes of village indexes, as Arrow strings."""
        return text.pick(self.village_codes.tolist(), village)

    def townships(self, village: np.ndarray) -> pa.Array:
        """Township name of each village index."""
        return text.pick(self.township_names.tolist(), village)

    def villages_of(self, district: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A uniformly chosen village index inside each given district index."""
        return self.first_village[district] + (u * self.village_count[district]).astype(np.int64)


def build_tier(reference: DivisionReference, townships_csv: Path | None = None) -> Tier:
    real = _read_townships(townships_csv) if townships_csv else {}
    villages: list[str] = []
    township_names: list[str] = []
    first, count = [], []
    for division in reference.divisions:
        townships = real.get(division.code) or _synthetic_townships(division.code, reference)
        first.append(len(villages))
        for code9, name, is_street in townships:
            for village in _village_segments(
                code9, is_street, reference, bool(real.get(division.code))
            ):
                villages.append(f"{code9}{village:03d}")
                township_names.append(name)
        count.append(len(villages) - first[-1])
    codes = np.array([d.code for d in reference.divisions])
    position = {d.code: i for i, d in enumerate(reference.divisions)}
    id_district = np.array(
        [position[d.host_district or d.code] for d in reference.divisions], dtype=np.int64
    )
    weights = np.array(
        [POPULATION.get(c, DEFAULT_POPULATION) * (1.5 if c in URBAN else 1.0) for c in codes],
        dtype=np.float64,
    )
    return Tier(
        codes=codes,
        names=np.array([d.name for d in reference.divisions]),
        weights=weights,
        seats=np.array(
            [d.centroid or (np.nan, np.nan) for d in reference.divisions], dtype=np.float64
        ),
        village_codes=np.array(villages),
        township_names=np.array(township_names),
        first_village=np.array(first, dtype=np.int64),
        village_count=np.array(count, dtype=np.int64),
        id_district=id_district,
    )


def _synthetic_townships(code: str, reference: DivisionReference) -> list[tuple[str, str, bool]]:
    """Streets get codes in 001-029, towns 100+; the split depends on how urban the district is."""
    rng = stream(0, "townships", code)  # seed-independent: the tier is reference data
    total = reference.generator_townships_per_district
    streets = total - 1 if code in URBAN else max(1, total // 3)
    street_codes = np.sort(rng.choice(np.arange(1, 30), size=min(streets, 29), replace=False))
    town_codes = 100 + np.sort(
        rng.choice(np.arange(0, 100), size=total - len(street_codes), replace=False)
    )
    words = rng.permutation(len(PLACE_WORDS))
    out = []
    for i, seg in enumerate([*street_codes, *town_codes]):
        is_street = seg < 100
        out.append(
            (
                f"{code}{seg:03d}",
                PLACE_WORDS[words[i % len(words)]] + ("街道" if is_street else "镇"),
                is_street,
            )
        )
    return out


def _village_segments(
    code9: str, is_street: bool, reference: DivisionReference, real: bool
) -> list[int]:
    """Communities 001-199, villages 200+ (under towns only); real townships get 001-0NN."""
    n = reference.generator_villages_per_township
    if real or is_street:
        return list(range(1, n + 1))
    communities = max(1, n // 3)
    return list(range(1, communities + 1)) + list(range(200, 200 + n - communities))


def _read_townships(path: Path) -> dict[str, list[tuple[str, str, bool]]]:
    """``code,name,areaCode,...`` rows grouped by district; streets are the '街道' ones."""
    out: dict[str, list[tuple[str, str, bool]]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            code = row["code"].strip()
            if len(code) != 9 or not code.isdigit():
                continue
            name = row["name"].strip()
            out.setdefault(row["areaCode"].strip(), []).append((code, name, name.endswith("街道")))
    for townships in out.values():
        townships.sort()
    return out
