"""E-licence issuances and government service cases (渝快办)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierflow.generate import ids, text
from tierflow.generate.context import Context, yyyymmdd
from tierflow.generate.rng import weighted_index

# type -> (holder kind, issuing agency suffix, validity in years or 0 = no expiry, weight)
LICENCES = {
    "YYZZ": ("entity", "市场监督管理局", 0, 30),
    "SPJY": ("entity", "市场监督管理局", 5, 12),
    "YPJY": ("entity", "市场监督管理局", 5, 3),
    "JZXK": ("entity", "住房和城乡建设委员会", 0, 5),
    "JSZ": ("person", "公安局交通巡逻警察支队", 6, 20),
    "XSZ": ("person", "公安局交通巡逻警察支队", 0, 10),
    "BDCQ": ("person", "规划和自然资源局", 0, 12),
    "HYZ": ("person", "民政局", 0, 8),
}
# 渝快办 catalogue items: (item code, department code)
ITEMS = [
    ("500000-000101-001", "psb"),
    ("500000-000102-001", "psb"),
    ("500000-000201-002", "samr"),
    ("500000-000202-001", "samr"),
    ("500000-000301-001", "tax"),
    ("500000-000401-003", "hrss"),
    ("500000-000402-001", "hrss"),
    ("500000-000501-001", "mnr"),
    ("500000-000601-001", "nhc"),
    ("500000-000701-001", "mca"),
    ("500000-000801-002", "trans"),
    ("500000-000901-001", "housing"),
]


def _holders(ctx: Context, rng: np.random.Generator, is_person: np.ndarray) -> pa.Array:
    n = is_person.size
    people = ids.id_strings(ctx.person_sample(rng, n, 18, 90)).to_numpy(zero_copy_only=False)
    entities = ctx.entity_pool("samr.enterprise", "mca.social_org")
    if len(entities) == 0:
        return pa.array(people)
    firms = entities.take(pa.array(rng.integers(0, len(entities), n))).to_numpy(
        zero_copy_only=False
    )
    return pa.array(np.where(is_person, people, firms), pa.string())


def issuance(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    types = list(LICENCES)
    type_index = weighted_index(rng.random(n), [LICENCES[t][3] for t in types])
    code = np.array(types)[type_index]
    is_person = np.array([LICENCES[t][0] == "person" for t in types])[type_index]
    years = np.array([LICENCES[t][2] for t in types])[type_index]
    district = weighted_index(rng.random(n), ctx.tier.weights)
    village = ctx.tier.villages_of(district, rng.random(n))
    issued = ctx.today - np.minimum(rng.exponential(3 * 365, n), 20 * 365).astype(np.int64)
    until = issued + (years * 365.25).astype(np.int64) - 1
    has_until = years > 0
    status = np.where(
        has_until & (until < ctx.today),
        "expired",
        np.where(rng.random(n) < 0.02, "revoked", "valid"),
    )
    serial = start + np.arange(n)
    # type prefix, district, year and a run-wide serial: unique, and still unique if one char changes
    number = text.join(
        pa.array(code),
        "-",
        pa.array(ctx.tier.codes[district]),
        "-",
        text.integer(issued // 365 + 1970),
        "-",
        text.zero_pad(serial, 8),
    )
    authority = text.join(
        "重庆市",
        pa.array(ctx.tier.names[district]),
        pa.array(np.array([LICENCES[t][1] for t in types])[type_index]),
    )
    columns = {
        "license_type_code": pa.array(code),
        "license_number": number,
        "holder_kind": pa.array(np.where(is_person, "person", "entity")),
        "holder_id": _holders(ctx, rng, is_person),
        "issuing_authority": authority,
        "issued_on": text.dates(issued),
        "valid_from": text.dates(issued),
        "valid_until": pa.array(
            np.where(has_until, text.dates(until).to_numpy(zero_copy_only=False), None), pa.string()
        ),
        "status": pa.array(status),
        "division_code": pa.array(ctx.tier.village_codes[village]),
        "updated_at": text.timestamps(ctx.recent_seconds(rng, n, issued * 86_400 + 36_000)),
    }
    return columns, {}


def service_case(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    item = rng.integers(0, len(ITEMS), n)
    is_person = rng.random(n) < 0.75
    district = weighted_index(rng.random(n), ctx.tier.weights)
    village = ctx.tier.villages_of(district, rng.random(n))
    accepted = ctx.end_of_day - rng.integers(0, 30 * 86_400, n)
    accepted = accepted - accepted % 60 + rng.integers(0, 60, n)
    completed = accepted + rng.integers(600, 10 * 86_400, n)
    done = completed <= ctx.end_of_day
    rejected = done & (rng.random(n) < 0.05)
    status = np.where(
        rejected,
        "rejected",
        np.where(done, "completed", np.where(rng.random(n) < 0.5, "accepted", "in_progress")),
    )
    rating = np.where(
        done & ~rejected & (rng.random(n) < 0.6),
        np.array([1, 2, 3, 4, 5])[weighted_index(rng.random(n), [2, 2, 6, 20, 70])],
        0,
    )
    accepted_day = accepted // 86_400
    columns = {
        "case_id": text.join(
            "YKB", text.integer(yyyymmdd(accepted_day)), text.zero_pad(start + np.arange(n), 8)
        ),
        "item_code": text.pick([i for i, _ in ITEMS], item),
        "applicant_kind": pa.array(np.where(is_person, "person", "entity")),
        "applicant_id": _holders(ctx, rng, is_person),
        "department_code": text.pick([d for _, d in ITEMS], item),
        "division_code": pa.array(ctx.tier.village_codes[village]),
        "accepted_at": text.timestamps(accepted),
        "completed_at": pa.array(
            np.where(done, text.timestamps(completed).to_numpy(zero_copy_only=False), None),
            pa.string(),
        ),
        "status": pa.array(status),
        "rating": pa.array(
            np.where(rating > 0, text.integer(rating).to_numpy(zero_copy_only=False), None),
            pa.string(),
        ),
    }
    return columns, {}
