"""Points and parcels inside a district's boundary, by vectorised rejection sampling."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

from tierflow.geo import district_boundaries

if TYPE_CHECKING:
    from collections.abc import Callable

    from tierflow.generate.divisions import Tier

M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQUATOR = 111_320.0


def _cells(tier: Tier) -> list[shapely.Polygon]:
    boundaries = district_boundaries()
    return [boundaries[str(code)] for code in tier.codes]


def sample_inside(
    rng: np.random.Generator,
    tier: Tier,
    district: np.ndarray,
    propose: Callable[[np.random.Generator, np.ndarray, np.ndarray], tuple[np.ndarray, ...]],
) -> tuple[np.ndarray, ...]:
    """Draw one shape per row whose vertices all lie in the row's district cell.

    ``propose(rng, lon, lat)`` turns candidate centres into ``(vertex_lon, vertex_lat,
    *extra)`` arrays of shape (k, v); a candidate is kept when every vertex is inside.
    Centres are Gaussian around the district seat (density falls off from the centre,
    as towns do) with a spread scaled to the cell, so small urban cells still accept.
    """
    cells = _cells(tier)
    results: list[tuple[np.ndarray, ...]] = []
    out_index: list[np.ndarray] = []
    for d in np.unique(district):
        rows = np.flatnonzero(district == d)
        cell = cells[d]
        cx, cy = shapely.get_coordinates(cell.centroid)[0]
        seat = tier.seats[d] if np.isfinite(tier.seats[d]).all() else (cx, cy)
        sigma = 0.35 * np.sqrt(cell.area)
        need = rows.size
        kept: list[tuple[np.ndarray, ...]] = []
        for _ in range(200):
            if need <= 0:
                break
            k = max(16, int(need * 1.6))
            near_seat = rng.random(k) < 0.7
            centre = np.where(near_seat, seat[0], cx), np.where(near_seat, seat[1], cy)
            lon = centre[0] + rng.normal(0, sigma, k)
            lat = centre[1] + rng.normal(0, sigma, k)
            shape = propose(rng, lon, lat)
            vx, vy = shape[0], shape[1]
            ok = shapely.contains_xy(cell, vx.ravel(), vy.ravel()).reshape(vx.shape).all(axis=1)
            chosen = np.flatnonzero(ok)[:need]
            kept.append(tuple(part[chosen] for part in shape))
            need -= chosen.size
        if need > 0:
            raise RuntimeError(f"could not place shapes inside district {tier.codes[d]}")
        results.append(tuple(np.concatenate(parts) for parts in zip(*kept, strict=True)))
        out_index.append(rows)
    order = np.concatenate(out_index)
    merged = []
    for parts in zip(*results, strict=True):
        full = np.concatenate(parts)
        arranged = np.empty_like(full)
        arranged[order] = full
        merged.append(arranged)
    return tuple(merged)


def rounded_point(
    _: np.random.Generator, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, ...]:
    """A point proposal, rounded to the 6 decimals written so the written value is tested."""
    lon, lat = np.round(lon, 6), np.round(lat, 6)
    return lon[:, None], lat[:, None]


def quadrilateral(
    rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, ...]:
    """A small convex parcel: a rotated rectangle (15-150 m sides) with jittered corners.

    Returns vertex lon/lat (k, 4), rounded to 6 decimals, and the shoelace area in m².
    """
    k = lon.size
    half_w = rng.uniform(8, 75, k)
    half_h = half_w * rng.uniform(0.5, 1.5, k)
    angle = rng.uniform(0, np.pi, k)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    jitter = rng.uniform(0.85, 1.0, (k, 4))  # shrink-only jitter keeps the quad convex
    x = corners[None, :, 0] * half_w[:, None] * jitter
    y = corners[None, :, 1] * half_h[:, None] * jitter
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    east, north = x * cos - y * sin, x * sin + y * cos
    m_per_lon = M_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat))[:, None]
    vx = np.round(lon[:, None] + east / m_per_lon, 6)
    vy = np.round(lat[:, None] + north / M_PER_DEG_LAT, 6)
    # area from the rounded vertices, so the written area matches the written shape
    ex, ny = (vx - vx[:, :1]) * m_per_lon, (vy - vy[:, :1]) * M_PER_DEG_LAT
    area = 0.5 * np.abs(np.sum(ex * np.roll(ny, -1, axis=1) - np.roll(ex, -1, axis=1) * ny, axis=1))
    return vx, vy, area
