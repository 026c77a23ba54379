"""The Assets that link tierflow's DAGs, defined once (DAG files import them from here).

ingest → ``pool.<table>`` → merge → ``library.<name>`` → sink → ``feeds`` → aggregate →
``thematic.tier_aggregate``; a decision on the lists updates ``sharing.lists`` (the sink
listens). Which pools are thematic comes from the contracts (``thematic:`` set), not a list.
Light: DAG files import it at parse time.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset

from tierflow.contracts import Catalog, Dataset, catalog
from tierflow.orchestration import pool_asset_name, pool_asset_uri

START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # every DAG's start: schedules, not history

FEEDS = Asset(name="feeds", uri="tierflow://feeds/districts", group="feed")
AGGREGATES = Asset(
    name="thematic.tier_aggregate", uri="tierflow://thematic/tier_aggregate", group="thematic"
)
LISTS = Asset(name="sharing.lists", uri="tierflow://sharing/lists", group="sharing")


def pool_asset(dataset: Dataset) -> Asset:
    return Asset(name=pool_asset_name(dataset), uri=pool_asset_uri(dataset), group="pool")


def library_asset(library: str) -> Asset:
    return Asset(name=f"library.{library}", uri=f"tierflow://library/{library}", group="library")


def library_assets() -> list[Asset]:
    """One Asset per library of the catalog (a survivorship file each)."""
    return [library_asset(library) for library in catalog().libraries]


def thematic_pool_assets(cat: Catalog) -> list[Asset]:
    """The pools of the thematic datasets, which the sink loads itself."""
    return [pool_asset(ds) for ds in cat.datasets if ds.thematic]
