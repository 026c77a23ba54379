"""Natural-person extracts: household registrations, vital events, social insurance."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierflow.generate import ids, names, text
from tierflow.generate.context import Context, days_from_yyyymmdd, yyyymmdd
from tierflow.generate.rng import CellCounter, splitmix64, weighted_index

# Share of the population per 5-year age band, 0-4 ... 95-99 (2020 census, rounded).
AGE_BANDS = np.array(
    [
        5.1,
        5.7,
        5.5,
        5.0,
        5.2,
        6.0,
        7.2,
        7.4,
        6.9,
        7.8,
        8.4,
        7.6,
        6.2,
        6.3,
        4.6,
        2.9,
        1.8,
        1.0,
        0.3,
        0.1,
    ]
)
MAX_AGE_DAYS = 101 * 366
STATUS = np.array(["normal", "deceased", "emigrated"])
DECEASED, EMIGRATED = 1, 2
ETHNICITY_MINORITIES = [
    "15",
    "06",
    "03",
    "04",
    "09",
    "02",
    "08",
    "18",
]  # 土家 苗 回 藏 布依 蒙古 壮 侗


def _counter(ctx: Context, n_districts: int) -> CellCounter:
    counter = ctx.cache.get("id_counter")
    if counter is None:
        counter = CellCounter(n_districts * MAX_AGE_DAYS * 2)
        ctx.cache["id_counter"] = counter
    assert isinstance(counter, CellCounter)
    return counter


def person_name(ctx: Context, bodies: np.ndarray) -> pa.Array:
    """The one name a person (ID body) has everywhere in a run."""
    return names.person_names(splitmix64(bodies, ctx.seed), ids.body_male(bodies))


def household(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    tier = ctx.tier
    district = weighted_index(rng.random(n), tier.weights)
    village = tier.villages_of(district, rng.random(n))
    band = weighted_index(rng.random(n), AGE_BANDS)
    age_days = ((band * 5 + rng.random(n) * 5) * 365.2425).astype(np.int64)
    birth_day = ctx.today - age_days
    male = rng.random(n) < 0.51
    # The ID carries the GB/T 2260 code of the district: a functional zone's residents get
    # its host district's (the record's division_code still names the zone's village).
    id_district = tier.id_district[district]
    # Unique ID numbers by construction: a running serial per (ID district, birth day, sex)
    # cell, permuted within the cell so sequences do not look like counters.
    cell = (id_district * MAX_AGE_DAYS + age_days) * 2 + male
    serial = _counter(ctx, len(tier.codes)).take(cell)
    if serial.max(initial=0) >= 500:
        raise ValueError(
            "scale too large: more than 500 people share a district, birth date and sex"
        )
    sequence = (
        (serial * 137 + (splitmix64(cell, 7) % np.uint64(500)).astype(np.int64)) % 500
    ) * 2 + male
    bodies = ids.id_body(tier.codes.astype(np.int64)[id_district], yyyymmdd(birth_day), sequence)

    age = age_days / 365.2425
    p_dead = np.where(age > 80, 0.06, np.where(age > 60, 0.01, 0.001))
    u = rng.random(n)
    status = np.where(u < p_dead, DECEASED, np.where(u > 0.997, EMIGRATED, 0)).astype(np.int8)
    minority = rng.random(n) < 0.08
    ethnicity = np.where(minority, 1 + rng.integers(0, len(ETHNICITY_MINORITIES), n), 0)
    prefix = text.join(tier.district_names(district), tier.townships(village))
    columns = {
        "id_number": ids.id_strings(bodies),
        "name": person_name(ctx, bodies),
        "gender": text.pick(["2", "1"], male),
        "ethnicity": text.pick(["01", *ETHNICITY_MINORITIES], ethnicity),
        "birth_date": text.dates(birth_day),
        "division_code": tier.villages(village),
        "address": names.street_addresses(rng, prefix),
        "status": text.pick(STATUS, status),
        "updated_at": text.timestamps(ctx.recent_seconds(rng, n, birth_day * 86_400 + 36_000)),
    }
    return columns, {"bodies": bodies, "status": status}


def register_household(
    ctx: Context, extra: dict, clean: np.ndarray, columns: dict[str, pa.Array]
) -> None:
    ctx.persons.add(extra["bodies"][clean], extra["status"][clean])


def vital_event(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    """Births of the youngest registered people and deaths of the deceased ones."""
    bodies = ctx.persons.bodies
    birth = ids.body_birth(bodies)
    infants = np.flatnonzero(birth > ctx.today_yyyymmdd - 10000)
    deceased = np.flatnonzero(ctx.persons.status == DECEASED)
    is_birth = rng.random(n) < 0.45
    if infants.size == 0:
        is_birth[:] = False
    pool_death = deceased if deceased.size else np.arange(bodies.size)
    chosen = np.where(
        is_birth,
        infants[rng.integers(0, max(infants.size, 1), n)] if infants.size else 0,
        pool_death[rng.integers(0, pool_death.size, n)],
    )
    person = bodies[chosen]
    event_day = np.where(
        is_birth, days_from_yyyymmdd(ids.body_birth(person)), ctx.today - rng.integers(0, 60, n)
    )
    # recorded in the district the ID names (for a zone's resident: the host district)
    district = ids.body_district(person)
    district_index = np.searchsorted(ctx.tier.codes.astype(np.int64), district)
    village = ctx.tier.villages_of(district_index, rng.random(n))
    serial = start + np.arange(n)
    updated = np.minimum(event_day * 86_400 + rng.integers(3_600, 20 * 86_400, n), ctx.end_of_day)
    columns = {
        "event_id": text.join("VE", text.integer(yyyymmdd(event_day)), text.zero_pad(serial, 6)),
        "id_number": ids.id_strings(person),
        "event_type": pa.array(np.where(is_birth, "birth", "death")),
        "event_date": text.dates(event_day),
        "division_code": pa.array(ctx.tier.village_codes[village]),
        "updated_at": text.timestamps(updated),
    }
    return columns, {}


def social_insurance(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    """One enrolment per person (the key): a fixed permutation of working-age people."""
    people = ctx.cache.get("si_people")
    if people is None:
        people = ctx.person_sample(rng, ctx.rows["hrss.social_insurance"], 16, 75, replace=False)
        ctx.cache["si_people"] = people
    assert isinstance(people, np.ndarray)
    person = people[start : start + n]
    employers = ctx.entity_pool("samr.enterprise", "mca.social_org")
    kinds = np.array(
        ["employee_pension", "resident_pension", "medical", "unemployment", "work_injury"]
    )
    kind = kinds[weighted_index(rng.random(n), [40, 20, 25, 8, 7])]
    employed = np.isin(kind, ["employee_pension", "unemployment", "work_injury"]) | (
        rng.random(n) < 0.3
    )
    employer = (
        employers.take(pa.array(rng.integers(0, max(len(employers), 1), n)))
        if len(employers)
        else None
    )
    employer_col = (
        pa.array(np.where(employed, employer.to_numpy(zero_copy_only=False), None), pa.string())
        if employer is not None
        else text.nulls(n)
    )
    phone = text.join(
        "1",
        text.pick(list("3456789"), rng.integers(0, 7, n)),
        text.zero_pad(rng.integers(0, 10**9, n), 9),
    )
    phone = pa.array(
        np.where(rng.random(n) < 0.9, phone.to_numpy(zero_copy_only=False), None), pa.string()
    )
    status = np.array(["active", "suspended", "terminated"])[
        weighted_index(rng.random(n), [85, 8, 7])
    ]
    columns = {
        "id_number": ids.id_strings(person),
        "employer_uscc": employer_col,
        "insurance_type": pa.array(kind),
        "status": pa.array(status),
        "phone": phone,
        "updated_at": text.timestamps(ctx.recent_seconds(rng, n)),
    }
    return columns, {}
