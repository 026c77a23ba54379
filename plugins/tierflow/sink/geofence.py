"""District boundaries in the geospatial library, and a vectorised point-in-polygon geofence.

The boundaries are stored as WKT in ``library.district_boundary`` (until real ones are
loaded, the generated stand-ins of ``tierflow.geo``, frozen as data by migration 0003) and
read back from there, so the sink geofences against whatever the library holds. Locating points is exact point-in-polygon,
accelerated by a grid: a cell lying wholly inside one polygon labels its points by array
indexing; only points in cells crossed by a boundary get an exact ``contains_xy`` test
against the few polygons touching that cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

from tierflow.sink.sql import statement

if TYPE_CHECKING:
    from shapely.geometry import Polygon
    from sqlalchemy.engine import Connection

GRID = 256  # cells per axis over the boundaries' extent; ~1% of cells are crossed by an edge


@dataclass(frozen=True)
class Geofence:
    codes: tuple[str, ...]
    polygons: tuple[Polygon, ...]
    origin: tuple[float, float]
    cell: tuple[float, float]
    # per cell: index of the polygon containing the whole cell, -1 if none, -2 if crossed
    cell_owner: np.ndarray
    # per polygon: the flat indexes of the crossed cells it touches
    cells_of_polygon: tuple[np.ndarray, ...]

    @classmethod
    def from_warehouse(cls, conn: Connection) -> Geofence:
        rows = conn.execute(statement("district_boundaries.sql")).all()
        if not rows:
            raise ValueError("library.district_boundary is empty: no district to geofence into")
        return cls.build({code: shapely.from_wkt(wkt) for code, wkt in rows})

    @classmethod
    def build(cls, boundaries: dict[str, Polygon]) -> Geofence:
        codes = tuple(sorted(boundaries))
        polygons = tuple(boundaries[c] for c in codes)
        for polygon in polygons:
            shapely.prepare(polygon)
        min_x, min_y, max_x, max_y = shapely.total_bounds(np.array(polygons, dtype=object))
        width, height = (max_x - min_x) / GRID, (max_y - min_y) / GRID
        xs = min_x + width * np.arange(GRID)
        ys = min_y + height * np.arange(GRID)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + width, gy.ravel() + height)
        owner = np.full(cells.size, -1, dtype=np.int32)
        touching: dict[int, list[int]] = {}
        for i, polygon in enumerate(polygons):
            # contains_properly: the closed cell lies in the interior, so no other polygon
            # can claim any of its points, even on an edge
            inside = shapely.contains_properly(polygon, cells)
            owner[inside] = i
            for flat in np.flatnonzero(shapely.intersects(polygon, cells) & ~inside):
                touching.setdefault(int(flat), []).append(i)
        for flat in touching:
            if owner[flat] < 0:
                owner[flat] = -2
        return cls(
            codes=codes,
            polygons=polygons,
            origin=(min_x, min_y),
            cell=(width, height),
            cell_owner=owner,
            cells_of_polygon=tuple(
                np.asarray(sorted(f for f, ps in touching.items() if i in ps), dtype=np.int64)
                for i in range(len(polygons))
            ),
        )

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """District code of each point (``''`` outside every polygon); exact point-in-polygon."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        index = self.locate_index(lon, lat)
        labels = np.array([*self.codes, ""], dtype=object)
        return labels[index]

    def locate_index(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Index into ``codes`` of each point's polygon, ``len(codes)`` outside every polygon."""
        outside = len(self.codes)
        cx = np.floor((lon - self.origin[0]) / self.cell[0])
        cy = np.floor((lat - self.origin[1]) / self.cell[1])
        in_grid = (cx >= 0) & (cx < GRID) & (cy >= 0) & (cy < GRID)  # NaN compares False
        flat = np.where(in_grid, cx, 0).astype(np.int64) * GRID + np.where(in_grid, cy, 0).astype(
            np.int64
        )
        owner = np.where(in_grid, self.cell_owner[flat], -1)
        result = np.where(owner >= 0, owner, outside).astype(np.int32)
        crossed = np.flatnonzero(owner == -2)
        if crossed.size:
            self._resolve_crossed(lon, lat, flat, crossed, result)
        return result

    def _resolve_crossed(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        flat: np.ndarray,
        crossed: np.ndarray,
        out: np.ndarray,
    ) -> None:
        # One exact test per polygon over the crossed points whose cell it touches.
        pending = np.ones(crossed.size, dtype=bool)
        crossed_cells = flat[crossed]
        for i, polygon in enumerate(self.polygons):
            mask = pending & np.isin(crossed_cells, self.cells_of_polygon[i])
            if not mask.any():
                continue
            idx = crossed[mask]
            # intersects_xy includes the boundary; polygons are tried in code order, so a
            # point on a shared edge deterministically goes to the lower code
            hit = shapely.intersects_xy(polygon, lon[idx], lat[idx])
            out[idx[hit]] = i
            pending[np.flatnonzero(mask)[hit]] = False
        out[crossed[pending]] = len(self.codes)
