"""Legal-entity extracts: enterprises, social organisations, taxpayers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from tierflow.generate import ids, names, text
from tierflow.generate.persons import person_name
from tierflow.generate.rng import weighted_index

if TYPE_CHECKING:
    from collections.abc import Callable

    from tierflow.generate.context import Context

ENTITY_TYPES = [
    "limited_liability",
    "joint_stock",
    "sole_proprietorship",
    "partnership",
    "individual_business",
    "branch",
]
ENTITY_WEIGHTS = [55, 4, 6, 4, 25, 6]
# GB/T 4754-2017 classes commonly registered in Chongqing (section letter + 2-4 digits).
INDUSTRIES = [
    "A0111",
    "A0141",
    "A0311",
    "B0610",
    "C1310",
    "C1391",
    "C1469",
    "C1512",
    "C2614",
    "C2710",
    "C3011",
    "C3130",
    "C3360",
    "C3670",
    "C3610",
    "C3982",
    "D4411",
    "E4710",
    "E4813",
    "E4990",
    "F5123",
    "F5212",
    "F5261",
    "F5274",
    "F5292",
    "G5430",
    "G5810",
    "H6110",
    "H6210",
    "I6510",
    "I6421",
    "J6620",
    "K7010",
    "L7212",
    "L7251",
    "M7320",
    "M7484",
    "N7721",
    "O8010",
    "P8336",
    "Q8411",
    "R8610",
    "S9421",
    "C36",
    "F52",
    "G543",
    "H621",
    "L72",
]
TRADE_SUFFIX = [
    "商贸",
    "科技",
    "建筑工程",
    "物流",
    "餐饮管理",
    "汽车配件",
    "信息技术",
    "农业开发",
    "电子",
    "机械制造",
]
SHOP_SUFFIX = ["餐馆", "便利店", "火锅店", "五金店", "副食店", "小面馆", "理发店"]
ORG_TYPES = ["social_group", "private_non_enterprise", "foundation"]
ORG_KIND_CHAR = {"social_group": "1", "private_non_enterprise": "2", "foundation": "3"}
ORG_SUFFIX = {
    "social_group": ["协会", "商会", "学会", "联合会"],
    "private_non_enterprise": ["服务中心", "培训学校", "养老院"],
    "foundation": ["慈善基金会", "教育基金会"],
}


def _district_and_village(
    ctx: Context, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray]:
    district = weighted_index(rng.random(n), ctx.tier.weights)
    return district, ctx.tier.villages_of(district, rng.random(n))


def _address(
    ctx: Context, rng: np.random.Generator, district: np.ndarray, village: np.ndarray
) -> pa.Array:
    prefix = text.join(
        pa.array(ctx.tier.names[district]), pa.array(ctx.tier.township_names[village])
    )
    return names.street_addresses(rng, prefix)


def _legal_reps(ctx: Context, rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array]:
    reps = ctx.person_sample(rng, n, 22, 75)
    return person_name(ctx, reps), ids.id_strings(reps)


def enterprise(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    district, village = _district_and_village(ctx, rng, n)
    kind = np.array(ENTITY_TYPES)[weighted_index(rng.random(n), ENTITY_WEIGHTS)]
    individual = kind == "individual_business"
    uscc = ids.uscc_strings(  # a zone's firms: its host district's code (design §4)
        "9",
        np.where(individual, "2", "1"),
        ctx.tier.id_codes[district],
        start + np.arange(n),
        ctx.seed,
    )
    trade = text.pick(names.TRADE_WORDS, rng.integers(0, len(names.TRADE_WORDS), n))
    suffix = np.select(
        [
            kind == "joint_stock",
            kind == "sole_proprietorship",
            kind == "partnership",
            kind == "branch",
        ],
        ["股份有限公司", "个人独资企业", "合伙企业（有限合伙）", "有限公司" + "分公司"],
        "有限公司",
    )
    line = text.pick(TRADE_SUFFIX, rng.integers(0, len(TRADE_SUFFIX), n))
    company = text.join("重庆", trade, line, pa.array(suffix))
    shop = text.join(
        pa.array(ctx.tier.names[district]), trade, text.pick(SHOP_SUFFIX, rng.integers(0, 7, n))
    )
    rep_name, rep_id = _legal_reps(ctx, rng, n)
    capital = np.round(np.exp(rng.normal(4.6, 1.6, n)), 4)  # 10k CNY, median ~100
    capital_text = pa.array(
        np.where(
            individual & (rng.random(n) < 0.7),
            None,
            text.fixed(capital, 4).to_numpy(zero_copy_only=False),
        ),
        pa.string(),
    )
    age_days = np.minimum(rng.exponential(6 * 365, n), 40 * 365).astype(np.int64)
    established = ctx.today - age_days
    status = np.array(["active", "deregistered", "revoked"])[
        weighted_index(rng.random(n), [85, 10, 5])
    ]
    columns = {
        "uscc": uscc,
        "name": pa.array(
            np.where(
                individual,
                shop.to_numpy(zero_copy_only=False),
                company.to_numpy(zero_copy_only=False),
            )
        ),
        "entity_type": pa.array(kind),
        "legal_rep_name": rep_name,
        "legal_rep_id_number": rep_id,
        "registered_capital": capital_text,
        "established_on": text.dates(established),
        "status": pa.array(status),
        "division_code": pa.array(ctx.tier.village_codes[village]),
        "address": _address(ctx, rng, district, village),
        "industry_code": text.pick(INDUSTRIES, rng.integers(0, len(INDUSTRIES), n)),
        "updated_at": text.timestamps(ctx.recent_seconds(rng, n, established * 86_400 + 36_000)),
    }
    return columns, {}


def social_org(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    district, village = _district_and_village(ctx, rng, n)
    org_type = np.array(ORG_TYPES)[weighted_index(rng.random(n), [45, 50, 5])]
    t_index = np.argmax(org_type[:, None] == np.array(ORG_TYPES), axis=1)
    kind_char = np.array([ORG_KIND_CHAR[t] for t in ORG_TYPES])[t_index]
    uscc = ids.uscc_strings(
        "5", kind_char, ctx.tier.id_codes[district], start + np.arange(n), ctx.seed
    )
    suffix_options = np.array([s for t in ORG_TYPES for s in ORG_SUFFIX[t]])
    offsets = np.cumsum([0] + [len(ORG_SUFFIX[t]) for t in ORG_TYPES])
    sizes = offsets[t_index + 1] - offsets[t_index]
    suffix = suffix_options[offsets[t_index] + (rng.random(n) * sizes).astype(np.int64)]
    trade = text.pick(names.TRADE_WORDS + names.STREET_WORDS, rng.integers(0, 70, n))
    name = text.join("重庆市", pa.array(ctx.tier.names[district]), trade, pa.array(suffix))
    rep_name, rep_id = _legal_reps(ctx, rng, n)
    address = _address(ctx, rng, district, village)
    address = pa.array(
        np.where(rng.random(n) < 0.95, address.to_numpy(zero_copy_only=False), None), pa.string()
    )
    columns = {
        "uscc": uscc,
        "name": name,
        "org_type": pa.array(org_type),
        "legal_rep_name": rep_name,
        "legal_rep_id_number": rep_id,
        "division_code": pa.array(ctx.tier.village_codes[village]),
        "address": address,
        "updated_at": text.timestamps(ctx.recent_seconds(rng, n)),
    }
    return columns, {}


def register_entities(
    dataset_id: str,
) -> Callable[[Context, dict, np.ndarray, dict[str, pa.Array]], None]:
    """A hook that adds the chunk's clean USCCs to the run's join pool for ``dataset_id``."""

    def register(
        ctx: Context, extra: dict, clean: np.ndarray, columns: dict[str, pa.Array]
    ) -> None:
        ctx.entities.setdefault(dataset_id, []).append(columns["uscc"].filter(pa.array(clean)))

    return register


def taxpayer(
    ctx: Context, rng: np.random.Generator, start: int, n: int
) -> tuple[dict[str, pa.Array], dict]:
    """Distinct taxpayers: a fixed permutation of the clean enterprise and social-org codes."""
    order = ctx.cache.get("tax_order")
    if order is None:
        order = rng.permutation(len(ctx.entity_pool("samr.enterprise", "mca.social_org")))
        ctx.cache["tax_order"] = order
    assert isinstance(order, np.ndarray)
    uscc = ctx.entity_pool("samr.enterprise", "mca.social_org").take(
        pa.array(order[start : start + n])
    )
    grade = np.array(["A", "B", "M", "C", "D"])[weighted_index(rng.random(n), [20, 50, 15, 10, 5])]
    columns = {
        "uscc": uscc,
        "tax_status": pa.array(
            np.array(["normal", "abnormal", "deregistered"])[
                weighted_index(rng.random(n), [88, 7, 5])
            ]
        ),
        "credit_grade": pa.array(np.where(rng.random(n) < 0.9, grade, None), pa.string()),
        "updated_at": text.timestamps(ctx.recent_seconds(rng, n)),
    }
    return columns, {}
