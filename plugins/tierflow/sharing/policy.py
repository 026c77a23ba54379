"""The sharing policy compiler: what one consumer receives of one feed, on every path.

Built from the three lists (``tierflow.lists``), the contracts' classification levels and
the consumer's clearance: a column is in the plan when an approved demand in force asks for
a field that fills it, and never when any field filling it is on the negative list. Each
column's level is the highest level among those fields. Its transform:

- pseudonymised when a demand says so, or when it is a level-4 identifier (ID number,
  licence holder, applicant) above the clearance: an identifier is never partially shown,
  because its hidden part can be rebuilt from what else the consumer sees;
- otherwise masked or generalised (``masking.mask_for``) above the clearance;
- otherwise clear.

The feed extraction (``tierflow.sink``) and the pull views (``tierflow.sharing.views``)
are both generated from the :class:`FeedPlan` objects made here, and nothing else decides
what a consumer may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from tierflow.lists import grants, negative_fields
from tierflow.masking import CLEAR, PSEUDONYM, Mask, column_treatment
from tierflow.sink.sources import FeedSource, Kind, feeds

if TYPE_CHECKING:
    import datetime as dt

    from tierflow.contracts import Catalog, Consumer

ARROW_TYPES: dict[Kind, pa.DataType] = {
    "text": pa.string(),
    "date": pa.date32(),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
SQL_TYPES: dict[Kind, str] = {
    "text": "text",
    "date": "date",
    "double": "double precision",
    "bigint": "bigint",
    "timestamp": "timestamptz",
}


@dataclass(frozen=True)
class ColumnPlan:
    column: str  # in the source table
    output: str  # in the feed
    kind: Kind
    level: int
    treatment: str  # CLEAR, PSEUDONYM, or a Mask value

    @property
    def mask(self) -> Mask | None:
        return Mask(self.treatment) if self.treatment not in (CLEAR, PSEUDONYM) else None


@dataclass(frozen=True)
class FeedPlan:
    consumer_id: str
    division_code: str
    clearance: int
    source: FeedSource
    columns: tuple[ColumnPlan, ...]
    demand_ids: tuple[str, ...]
    withheld: dict[str, str]  # output name → legal basis

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def pseudonymised(self) -> bool:
        return any(c.treatment == PSEUDONYM for c in self.columns)

    def schema(self) -> pa.Schema:
        fields = [
            pa.field("op", pa.string(), nullable=False),
            pa.field("changed_at", ARROW_TYPES["timestamp"], nullable=False),
        ]
        fields += [pa.field(c.output, ARROW_TYPES[c.kind]) for c in self.columns]
        return pa.schema(fields)

    def masking(self) -> dict[str, str]:
        return {c.output: c.treatment for c in self.columns if c.treatment != CLEAR}


def plan_feeds(cat: Catalog, consumer: Consumer, as_of: dt.date) -> list[FeedPlan]:
    """One plan per feed the consumer may receive on ``as_of`` (none for unasked feeds)."""
    granted = grants(cat, consumer.id, as_of)
    negative = negative_fields(cat)
    plans = []
    for source in feeds():
        asked = {ds: g for ds, g in granted.items() if ds in source.fields}
        if not asked:
            continue
        wanted: set[str] = set()
        pseudo: set[str] = set()
        for dataset, grant in asked.items():
            mapping = source.fields[dataset]
            wanted.update(c for f in grant.fields if f in mapping for c in mapping[f])
            pseudo.update(c for f in grant.pseudonymise if f in mapping for c in mapping[f])
        withheld: dict[str, str] = {}
        columns = []
        for column, kind in source.columns.items():
            origins = source.sources_of(column)
            blocked = [negative[ds][f] for ds, f in origins if f in negative.get(ds, {})]
            if blocked:
                if column in wanted or any(
                    f in g.withheld for ds, g in asked.items() for d, f in origins if d == ds
                ):
                    withheld[source.output_name(column)] = blocked[0]
                continue  # the negative list wins over every demand
            if column not in wanted:
                continue
            contract_columns = [cat.dataset(ds).column(f) for ds, f in origins]
            level = max(c.level for c in contract_columns)
            treatment = column_treatment(
                contract_columns, consumer.clearance, pseudonymise=column in pseudo
            )
            columns.append(ColumnPlan(column, source.output_name(column), kind, level, treatment))
        if not set(source.key) <= {c.column for c in columns}:
            continue  # without its key a change cannot be applied: not a usable feed
        plans.append(
            FeedPlan(
                consumer_id=consumer.id,
                division_code=consumer.division_code or "",
                clearance=consumer.clearance,
                source=source,
                columns=tuple(columns),
                demand_ids=tuple(sorted({i for g in asked.values() for i in g.demand_ids})),
                withheld=withheld,
            )
        )
    return plans
