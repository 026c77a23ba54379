"""District boundaries from the division seats, and vectorised point location."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tierflow.contracts import catalog
from tierflow.geo import (
    CITY_BOX,
    LAT_MAX,
    LAT_MIN,
    LON_MAX,
    LON_MIN,
    district_boundaries,
    locate_points,
)

pytestmark = pytest.mark.unit


def test_every_division_has_a_seat_inside_its_cell() -> None:
    divisions = catalog().divisions.divisions
    assert len(divisions) == 41 and all(d.centroid is not None for d in divisions)
    cells = district_boundaries()
    assert set(cells) == {d.code for d in divisions}
    for d in divisions:
        lon, lat = d.centroid
        assert LON_MIN < lon < LON_MAX and LAT_MIN < lat < LAT_MAX
        assert cells[d.code].contains(shapely.Point(lon, lat)), d.name


def test_cells_tile_the_box_without_overlap() -> None:
    cells = list(district_boundaries().values())
    assert all(c.is_valid and c.geom_type == "Polygon" for c in cells)
    assert sum(c.area for c in cells) == pytest.approx(CITY_BOX.area, rel=1e-9)
    assert shapely.union_all(cells).symmetric_difference(CITY_BOX).area < 1e-9
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="overlaps")
    assert all(
        cells[i].intersection(cells[j]).area < 1e-12 for i, j in zip(left, right, strict=True)
    )


def test_boundaries_are_deterministic() -> None:
    first = district_boundaries(catalog().divisions)
    second = district_boundaries(catalog().divisions)
    assert all(first[k].equals_exact(second[k], 0) for k in first)


def test_locate_points_agrees_with_shapely() -> None:
    rng = np.random.default_rng(5)
    lon = rng.uniform(LON_MIN - 0.5, LON_MAX + 0.5, 20_000)
    lat = rng.uniform(LAT_MIN - 0.5, LAT_MAX + 0.5, 20_000)
    found = locate_points(lon, lat)
    cells = district_boundaries()
    for i in rng.choice(lon.size, 1_000, replace=False):
        point = shapely.Point(lon[i], lat[i])
        expected = next((code for code, cell in cells.items() if cell.covers(point)), "")
        assert found[i] == expected
    outside = (lon < LON_MIN) | (lon > LON_MAX) | (lat < LAT_MIN) | (lat > LAT_MAX)
    assert (found[outside] == "").all() and (found[~outside] != "").all()


def test_locate_points_seats_and_empty_input() -> None:
    divisions = catalog().divisions.divisions
    lon = np.array([d.centroid[0] for d in divisions])
    lat = np.array([d.centroid[1] for d in divisions])
    assert locate_points(lon, lat).tolist() == [d.code for d in divisions]
    assert locate_points(np.array([]), np.array([])).shape == (0,)


def test_migration_0003_froze_the_generated_boundaries_exactly() -> None:
    """Migration 0003 stores the boundaries as data (a migration runs no code that may change
    later); they are the generator's cells to the last digit. If the generator changes, the
    warehouse keeps these until a new migration stores new ones."""
    import re
    from importlib.resources import files

    text = (
        files("tierflow") / "sql" / "migrations" / "0003_district_boundaries_up.sql"
    ).read_text()
    number = r"(-?[0-9.e+-]+)"
    frozen = {
        code: (name, wkt, tuple(float(v) for v in bounds))
        for code, name, wkt, *bounds in re.findall(
            rf"\('(\d{{6}})', '([^']*)', '([^']*)',\s*{', '.join([number] * 4)}\)", text
        )
    }
    names = {d.code: d.name for d in catalog().divisions.divisions}
    cells = district_boundaries(catalog().divisions)
    assert len(frozen) == len(cells) == 41
    for code, cell in cells.items():
        min_lon, min_lat, max_lon, max_lat = cell.bounds
        assert frozen[code] == (
            names[code],
            shapely.to_wkt(cell, rounding_precision=-1),
            (min_lon, max_lon, min_lat, max_lat),
        ), code
