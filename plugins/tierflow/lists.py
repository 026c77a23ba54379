"""The three lists of design §6, enforced.

- Demand list: only approved demands that are in force on the run's date flow.
- Negative list: a listed field (or a whole listed dataset) never flows, whatever a
  demand says; it wins over every demand.
(The responsibility list's calendar is ``tierflow.quality.calendar``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierflow.clock import today
from tierflow.errors import TierflowError

if TYPE_CHECKING:
    import datetime as dt

    from tierflow.contracts import Catalog, Consumer, Demand


class UnknownConsumer(TierflowError, KeyError):
    """No such consumer (or no district consumer for a code) in the demand list."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


__all__ = ["Grant", "consumer", "demand_in_force", "district_consumer", "grants", "today"]


def demand_in_force(demand: Demand, on: dt.date) -> bool:
    """Approved, already approved on ``on``, and not expired (``expires_on`` is the last valid day).

    A demand the daily expiry marked ``expired`` was in force up to its last valid day: a
    re-run of a run planned before then still sees it."""
    return (
        demand.status in ("approved", "expired")
        and demand.approved_on is not None
        and demand.approved_on <= on
        and (demand.expires_on is None or on <= demand.expires_on)
    )


def negative_fields(cat: Catalog) -> dict[str, dict[str, str]]:
    """dataset → {field: legal basis}; a whole-dataset entry lists every field of it."""
    out: dict[str, dict[str, str]] = {}
    for entry in cat.negative.entries:
        fields = (
            [entry.field]
            if entry.field is not None
            else [c.name for c in cat.dataset(entry.dataset).columns]
        )
        for name in fields:
            out.setdefault(entry.dataset, {})[name] = entry.legal_basis
    return out


@dataclass(frozen=True)
class Grant:
    """What one consumer may receive of one dataset, after all three checks."""

    consumer: str
    dataset: str
    fields: tuple[str, ...]  # contract order
    pseudonymise: tuple[str, ...]
    demand_ids: tuple[str, ...]
    withheld: dict[str, str]  # field → why (negative list legal basis)


def consumer(cat: Catalog, consumer_id: str) -> Consumer:
    for c in cat.demand.consumers:
        if c.id == consumer_id:
            return c
    raise UnknownConsumer(f"unknown consumer {consumer_id!r}")


def district_consumer(cat: Catalog, division_code: str) -> Consumer:
    for c in cat.demand.consumers:
        if c.kind == "district" and c.division_code == division_code:
            return c
    raise UnknownConsumer(
        f"{division_code} is not a district of the demand list"
        f" (districts: {', '.join(c.division_code or '' for c in cat.demand.consumers if c.kind == 'district')})"
    )


def grants(cat: Catalog, consumer_id: str, on: dt.date) -> dict[str, Grant]:
    """dataset → Grant for the consumer's demands in force on ``on`` (several demands unite)."""
    blocked = negative_fields(cat)
    asked: dict[str, tuple[set[str], set[str], list[str]]] = {}
    for demand in cat.demand.demands:
        if demand.consumer != consumer_id or not demand_in_force(demand, on):
            continue
        fields, pseudo, ids = asked.setdefault(demand.dataset, (set(), set(), []))
        fields.update(demand.fields)
        pseudo.update(demand.pseudonymise)
        ids.append(demand.id)
    out: dict[str, Grant] = {}
    for dataset_id, (fields, pseudo, ids) in sorted(asked.items()):
        negative = blocked.get(dataset_id, {})
        order = [c.name for c in cat.dataset(dataset_id).columns]
        allowed = tuple(f for f in order if f in fields and f not in negative)
        if not allowed:
            continue
        out[dataset_id] = Grant(
            consumer=consumer_id,
            dataset=dataset_id,
            fields=allowed,
            pseudonymise=tuple(f for f in order if f in pseudo and f in allowed),
            demand_ids=tuple(sorted(ids)),
            withheld={f: negative[f] for f in order if f in fields and f in negative},
        )
    return out
