"""Rows that are not defects: normalisation cases and superseded (older) copies.

A normalisation case is a clean row written the way real extracts arrive:
full-width characters, a lower-case 'x' check character, stray spaces, an
explicit UTC offset. The ingest normaliser must repair and accept it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierflow.contracts import ColumnType, Dataset, Semantic
from tierflow.generate import text
from tierflow.generate.defects import TEXT_FORMATS

SHANGHAI_OFFSET = 8 * 3600


def normalisation_forms(ds: Dataset, fmt: str) -> list[tuple[str, str]]:
    """(form, column) pairs that apply; only non-nullable columns so a value is always there."""
    forms: list[tuple[str, str]] = []
    for col in ds.columns:
        if col.nullable:
            continue
        if col.type == ColumnType.string:
            forms.append(("spaces", col.name))
            if (
                col.semantic in (Semantic.citizen_id, Semantic.uscc, Semantic.division_code)
                or col.pattern
            ):
                forms.append(("full_width", col.name))
            if col.semantic == Semantic.citizen_id:
                forms.append(("lower_x", col.name))
        elif col.type == ColumnType.timestamp and fmt in TEXT_FORMATS:
            forms.append(("offset", col.name))
            forms.append(("utc", col.name))
    return forms


def normalise(
    ds: Dataset, fmt: str, columns: dict[str, pa.Array], rows: np.ndarray, rng: np.random.Generator
) -> dict[str, pa.Array]:
    forms = normalisation_forms(ds, fmt)
    if not rows.size or not forms:
        return columns
    choice = rng.integers(0, len(forms), rows.size)
    n = len(next(iter(columns.values())))
    out = dict(columns)
    for index, (form, name) in enumerate(forms):
        these = np.sort(rows[choice == index])
        if not these.size:
            continue
        values = out[name].take(pa.array(these))
        mask = np.zeros(n, dtype=bool)
        mask[these] = True
        out[name] = pc.replace_with_mask(out[name], pa.array(mask), _apply(form, values))
    return out


def _apply(form: str, values: pa.Array) -> pa.Array:
    if form == "spaces":
        return text.join(" ", values, "  ")
    if form == "full_width":
        return text.full_width(values)
    if form == "lower_x":
        # only IDs ending in 'X' can show a lower-case x; the others go full-width instead
        return pc.if_else(pc.ends_with(values, "X"), pc.utf8_lower(values), text.full_width(values))
    if form == "offset":
        return text.join(values, "+08:00")
    if form == "utc":
        return text.join(text.timestamps(text.parse_timestamps(values) - SHANGHAI_OFFSET), "Z")
    raise ValueError(form)


def layout_with_copies(
    n: int, sources: np.ndarray, rng: np.random.Generator, *, by_position: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Output order of a chunk: every row once, plus an extra copy of each ``sources`` row.

    With an ``updated_at`` the copy goes just before or just after its row (file position
    must not decide which version wins). Without one (``by_position``) the later line wins,
    so the superseded copy always comes first. Returns (source index per output row, is-copy flag).
    """
    count = np.ones(n, dtype=np.int64)
    count[sources] = 2
    order = np.repeat(np.arange(n), count)
    is_copy = np.zeros(order.size, dtype=bool)
    first_slot = np.cumsum(count) - count  # position of each row's first output line
    copy_first = rng.random(sources.size) < 0.5
    if by_position:
        copy_first[:] = True
    is_copy[first_slot[sources] + np.where(copy_first, 0, 1)] = True
    return order, is_copy


def age_copies(
    ds: Dataset, columns: dict[str, pa.Array], is_copy: np.ndarray, rng: np.random.Generator
) -> dict[str, pa.Array]:
    """Give the copies an earlier updated_at (datasets without one keep exact copies)."""
    if ds.updated_at is None or not is_copy.any():
        return columns
    name = ds.updated_at
    values = columns[name].filter(pa.array(is_copy))
    earlier = text.parse_timestamps(values) - rng.integers(3600, 20 * 86_400, int(is_copy.sum()))
    out = dict(columns)
    out[name] = pc.replace_with_mask(columns[name], pa.array(is_copy), text.timestamps(earlier))
    return out
