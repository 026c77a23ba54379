"""Natural-resources and transport extracts: land parcels, addresses, truck GPS."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from tierflow.generate import names, text
from tierflow.generate.places import quadrilateral, rounded_point, sample_inside
from tierflow.generate.rng import CellCounter, weighted_index
from tierflow.geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN

if TYPE_CHECKING:
    from tierflow.generate.context import Context

POINTS_PER_TRUCK = 200
CQ_LETTERS = list("ABCDFGH")  # 渝A-渝H (no 渝E) are the city's plate letters
PLATE_LETTERS = list("ABCDEFGHJKLMNPQRSTUVWXYZ")


def _village_counter(ctx: Context, name: str) -> CellCounter:
    counter = ctx.cache.get(name)
    if counter is None:
        counter = CellCounter(len(ctx.tier.village_codes))
        ctx.cache[name] = counter
    assert isinstance(counter, CellCounter)
    return counter


def land_parcel(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    district = weighted_index(rng.random(n), ctx.tier.weights)
    village = ctx.tier.villages_of(district, rng.random(n))
    vx, vy, area = sample_inside(rng, ctx.tier, district, quadrilateral)
    serial = _village_counter(ctx, "parcel_serial").take(village)
    # GB/T 13923 parcel code: 12-digit division + G (state land) + feature letter + serial
    parcel_id = text.join(
        pa.array(ctx.tier.village_codes[village]),
        "G",
        text.pick(list("ABSXY"), rng.integers(0, 5, n)),
        text.zero_pad(serial, 5),
    )
    coords = [
        text.join(text.fixed(vx[:, i], 6), " ", text.fixed(vy[:, i], 6)) for i in (0, 1, 2, 3, 0)
    ]
    wkt = text.join("POLYGON ((", pc_join(coords, ", "), "))")
    land_use = ctx.catalog.dataset("mnr.land_parcel").column("land_use_code").enum or ("0101",)
    columns = {
        "parcel_id": parcel_id,
        "land_use_code": text.pick(land_use, rng.integers(0, len(land_use), n)),
        "area_m2": text.fixed(area, 2),
        "geometry_wkt": wkt,
        "division_code": pa.array(ctx.tier.village_codes[village]),
        "updated_at": text.timestamps(ctx.recent_seconds(rng, n)),
    }
    return columns, {}


def pc_join(parts: list[pa.Array], separator: str) -> pa.Array:
    interleaved: list[pa.Array | str] = []
    for i, part in enumerate(parts):
        if i:
            interleaved.append(separator)
        interleaved.append(part)
    return text.join(*interleaved)


def address(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    district = weighted_index(rng.random(n), ctx.tier.weights)
    village = ctx.tier.villages_of(district, rng.random(n))
    lon, lat = sample_inside(rng, ctx.tier, district, rounded_point)
    serial = _village_counter(ctx, "address_serial").take(village)
    prefix = text.join(
        pa.array(ctx.tier.names[district]), pa.array(ctx.tier.township_names[village])
    )
    columns = {
        "address_id": text.join(
            "A", pa.array(ctx.tier.village_codes[village]), text.zero_pad(serial, 6)
        ),
        "full_address": names.street_addresses(rng, prefix),
        "division_code": pa.array(ctx.tier.village_codes[village]),
        "longitude": text.fixed(lon[:, 0], 6),
        "latitude": text.fixed(lat[:, 0], 6),
        "updated_at": text.timestamps(ctx.recent_seconds(rng, n)),
    }
    return columns, {}


def _fold(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Reflect a path at the box edges (a triangle wave): continuous and always inside."""
    span = high - low
    phase = np.mod(values - low, 2 * span)
    return low + np.where(phase > span, 2 * span - phase, phase)


def truck_gps(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    """Whole trucks per chunk: ~200 fixes 30 s apart along a smooth random walk.

    Heading drifts by small turns, speed by small accelerations with the odd stop;
    positions integrate the velocity and are reflected at the city box. The written
    heading and speed are recomputed from consecutive positions so they agree.
    """
    point = start + np.arange(n)
    truck = point // POINTS_PER_TRUCK
    trucks, first = np.unique(truck, return_index=True)
    steps = np.diff(np.append(first, n))
    k, m = trucks.size, int(steps.max())
    district = weighted_index(rng.random(k), ctx.tier.weights)
    lon0 = ctx.tier.seats[district, 0] + rng.normal(0, 0.05, k)
    lat0 = ctx.tier.seats[district, 1] + rng.normal(0, 0.05, k)
    interval = rng.integers(28, 33, (k, m))
    t0 = ctx.today * 86_400 + rng.integers(0, 22 * 3600, k)
    seconds = t0[:, None] + np.cumsum(interval, axis=1) - interval[:, :1]
    heading = rng.uniform(0, 2 * np.pi, k)[:, None] + np.cumsum(rng.normal(0, 0.08, (k, m)), axis=1)
    cruise = rng.uniform(45, 90, k)[:, None]
    speed = np.clip(cruise + np.cumsum(rng.normal(0, 2.0, (k, m)), axis=1), 0, 120)
    stopped = (
        np.cumsum(rng.random((k, m)) < 0.01, axis=1) % 2 == 1
    )  # occasional stops at lights/depots
    speed = np.where(stopped & (rng.random((k, 1)) < 0.5), 0.0, speed)
    metres = speed / 3.6 * interval
    lat_rad = np.radians(lat0)[:, None]
    dlon = np.cumsum(metres * np.sin(heading), axis=1) / (111_320.0 * np.cos(lat_rad))
    dlat = np.cumsum(metres * np.cos(heading), axis=1) / 110_540.0
    lon = np.round(_fold(lon0[:, None] + dlon, LON_MIN + 1e-4, LON_MAX - 1e-4), 6)
    lat = np.round(_fold(lat0[:, None] + dlat, LAT_MIN + 1e-4, LAT_MAX - 1e-4), 6)
    east = np.diff(lon, axis=1, prepend=lon[:, :1]) * 111_320.0 * np.cos(lat_rad)
    north = np.diff(lat, axis=1, prepend=lat[:, :1]) * 110_540.0
    gap = np.diff(seconds, axis=1, prepend=seconds[:, :1] - 30)
    shown_speed = np.clip(np.hypot(east, north) / gap * 3.6, 0, 150)
    shown_heading = np.mod(np.round(np.degrees(np.arctan2(east, north))), 360).astype(np.int64)
    # first fix has no previous one: report the heading the truck is about to take
    shown_heading[:, 0] = shown_heading[:, 1] if m > 1 else 0
    shown_speed[:, 0] = shown_speed[:, 1] if m > 1 else 0

    valid = np.arange(m)[None, :] < steps[:, None]
    plate = _plates(ctx, trucks)
    columns = {
        "plate_number": plate.take(pa.array(np.repeat(np.arange(k), steps))),
        "recorded_at": text.timestamps(seconds[valid]),
        "longitude": text.fixed(lon[valid], 6),
        "latitude": text.fixed(lat[valid], 6),
        "speed_kmh": text.fixed(shown_speed[valid], 1),
        "heading": text.integer(shown_heading[valid]),
    }
    return columns, {}


def _plates(ctx: Context, trucks: np.ndarray) -> pa.Array:
    """Distinct plates: the part after the province is a bijection of the truck number."""
    space = len(CQ_LETTERS) * 100_000
    code = (trucks.astype(np.int64) * 7_919 + ctx.seed % space) % space  # 7919 is coprime to 700000
    letter = text.pick(CQ_LETTERS, code // 100_000)
    u = (trucks * 2_654_435_761 % 1000) / 1000  # province mix is a per-truck constant: 88% 渝
    province = text.pick(["渝", "川", "贵"], np.where(u < 0.88, 0, np.where(u < 0.96, 1, 2)))
    return text.join(province, letter, text.zero_pad(code % 100_000, 5))
