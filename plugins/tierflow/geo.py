"""District boundaries and point location for Chongqing (design §4, §5).

Real district boundaries are not shipped; the platform derives stand-in
boundaries from each division's seat (``centroid`` in ``schemas/divisions.yaml``)
as Voronoi cells clipped to the city's bounding box. That is enough for the
generator (points and parcels inside their district), for the checks and for
tests, and is deterministic: the same reference gives the same polygons.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon, box

from tierflow.contracts import DivisionReference, catalog

# Chongqing bounding box (design §4)
LON_MIN, LON_MAX = 105.28, 110.20
LAT_MIN, LAT_MAX = 28.16, 32.21
CITY_BOX: Polygon = box(LON_MIN, LAT_MIN, LON_MAX, LAT_MAX)


def district_boundaries(divisions: DivisionReference | None = None) -> dict[str, Polygon]:
    """Voronoi cells of the division seats, clipped to the city box, keyed by 6-digit code.

    The cells tile the box without overlap. Divisions without a centroid get no cell.
    """
    if divisions is None:
        return dict(_default_boundaries())
    return _boundaries(divisions)


@cache
def _default_boundaries() -> tuple[tuple[str, Polygon], ...]:
    return tuple(_boundaries(catalog().divisions).items())


def _boundaries(divisions: DivisionReference) -> dict[str, Polygon]:
    seats = [(d.code, d.centroid) for d in divisions.divisions if d.centroid is not None]
    if not seats:
        raise ValueError("no division has a centroid; cannot derive boundaries")
    codes = [code for code, _ in seats]
    points = MultiPoint([c for _, c in seats])
    # ordered=True keeps the cells in input order so cell i belongs to seat i
    cells = shapely.voronoi_polygons(points, extend_to=CITY_BOX, ordered=True)
    clipped = shapely.intersection(np.asarray(cells.geoms, dtype=object), CITY_BOX)
    out: dict[str, Polygon] = {}
    for code, cell in zip(codes, clipped, strict=True):
        shapely.prepare(cell)
        out[code] = cell
    return out


@cache
def _lookup() -> tuple[np.ndarray, np.ndarray, list[Polygon]]:
    boundaries = district_boundaries()
    codes = np.array(list(boundaries), dtype=object)
    seats = {d.code: d.centroid for d in catalog().divisions.divisions if d.centroid is not None}
    xy = np.array([seats[c] for c in codes], dtype=np.float64)
    return codes, xy, list(boundaries.values())


def locate_points(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """District code of each point ('' outside every district), vectorised.

    The nearest seat is only a *candidate* (exact for Voronoi cells up to rounding);
    every candidate is confirmed with an exact point-in-polygon test, and the few
    points that fail it (on a shared edge) are tested against every polygon.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    codes, seats, polygons = _lookup()
    result = np.full(lon.shape, -1, dtype=np.int64)  # index into codes, -1 = outside
    # Outside the box no cell can contain the point: skip those early.
    todo = np.flatnonzero(in_city_box(lon, lat))
    x, y = lon[todo], lat[todo]
    candidate = np.empty(todo.size, dtype=np.int64)
    step = 1 << 16  # bounds the (points x seats) distance matrix
    sx, sy = seats[:, 0].astype(np.float32), seats[:, 1].astype(np.float32)
    for start in range(0, todo.size, step):
        dx = x[start : start + step, None].astype(np.float32) - sx
        dy = y[start : start + step, None].astype(np.float32) - sy
        candidate[start : start + step] = np.argmin(dx * dx + dy * dy, axis=1)
    order = np.argsort(candidate, kind="stable")
    bounds = np.searchsorted(candidate[order], np.arange(len(polygons) + 1))
    for i, polygon in enumerate(polygons):
        idx = order[bounds[i] : bounds[i + 1]]
        if idx.size:
            inside = shapely.contains_xy(polygon, x[idx], y[idx])
            result[todo[idx[inside]]] = i
    missed = todo[result[todo] < 0]
    for i, polygon in enumerate(polygons):
        if not missed.size:
            break
        hit = shapely.intersects_xy(polygon, lon[missed], lat[missed])
        result[missed[hit]] = i
        missed = missed[~hit]
    labels = np.append(codes.astype(str), "")
    return labels[result]


def in_city_box(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where (lon, lat) lies in the city's bounding box (edges included)."""
    return (lon >= LON_MIN) & (lon <= LON_MAX) & (lat >= LAT_MIN) & (lat <= LAT_MAX)
