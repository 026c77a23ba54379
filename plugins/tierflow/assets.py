"""The Assets that link tierflow's DAGs, defined once (DAG files import them from here).

ingest → ``pool.<table>`` → merge → ``library.<name>`` → sink → ``feeds`` → aggregate →
``thematic.tier_aggregate``; a decision on the lists updates ``sharing.lists`` (the sink
listens). Which pools are thematic comes from the contracts (``thematic:`` set), not a list.
Every event carries a partition key (``tierflow.partitions``): the schedules below say how
each DAG maps the keys it listens to onto its own runs.
Light: DAG files import it at parse time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import (
    Asset,
    AssetAny,
    CronPartitionTimetable,
    FixedKeyMapper,
    MinimumCount,
    PartitionedAssetTimetable,
    RollupMapper,
    SegmentWindow,
    WaitForAll,
)

from tierflow.contracts import Catalog, Dataset, catalog
from tierflow.orchestration import pool_asset_name, pool_asset_uri

START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # every DAG's start: schedules, not history

FEEDS = Asset(name="feeds", uri="tierflow://feeds/districts", group="feed")
AGGREGATES = Asset(
    name="thematic.tier_aggregate", uri="tierflow://thematic/tier_aggregate", group="thematic"
)
LISTS = Asset(name="sharing.lists", uri="tierflow://sharing/lists", group="sharing")
# a demand was filed (``tierflow demands request``): the review DAG opens its review at once
DEMANDS = Asset(name="sharing.demands", uri="tierflow://sharing/demands", group="sharing")


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


def delivery_date_schedule(cron: str, timezone: str) -> CronPartitionTimetable:
    """An ingest's schedule: the responsibility list's cron, each run keyed by its delivery
    date (``YYYY-MM-DD``), so ``airflow backfill create`` / ``POST /api/v2/backfills`` over
    one day re-runs exactly that date's deliveries."""
    from tierflow.partitions import DATE_FORMAT

    return CronPartitionTimetable(cron, timezone=timezone, key_format=DATE_FORMAT)


def merge_schedule(pools: list[Asset]) -> PartitionedAssetTimetable:
    """A merge runs for each delivery date any of its pools gets (the key passes through)."""
    return PartitionedAssetTimetable(assets=AssetAny(*pools))


def sink_schedule(assets: list[Asset]) -> PartitionedAssetTimetable:
    """Any change (a library, a thematic pool, the lists) starts one sink run keyed ``all``:
    every pilot district. An operator's run keyed by one district's code publishes only it."""
    from tierflow.partitions import ALL_DISTRICTS

    return PartitionedAssetTimetable(
        assets=AssetAny(*assets), default_partition_mapper=FixedKeyMapper(ALL_DISTRICTS)
    )


def aggregate_schedule() -> PartitionedAssetTimetable:
    """The city aggregate: the pilot districts' ``feeds`` partitions rolled up into one run
    keyed ``city``, fired under ``schemas/partitions.yaml`` (all of them, or a minimum)."""
    from tierflow.partitions import CITY, WaitFor, check_minimum, load_policy

    policy = load_policy().aggregate
    pilots = catalog().divisions.pilot_codes
    check_minimum(policy, len(pilots))
    wait = WaitForAll() if policy.wait_for is WaitFor.all else MinimumCount(policy.minimum)
    return PartitionedAssetTimetable(
        assets=FEEDS,
        default_partition_mapper=RollupMapper(
            upstream_mapper=FixedKeyMapper(CITY), window=SegmentWindow(pilots), wait_policy=wait
        ),
    )


API_TIMEOUT_SECONDS = 20


def announce(
    asset: Asset, extra: dict[str, Any], partition_key: str | None = None
) -> dict[str, Any]:
    """An event of ``asset`` raised from outside any Airflow task (a CLI command), so the DAGs
    scheduled on it run as they do after a task that lists it in its ``outlets``.

    Sent through the api-server's REST API (``POST /api/v2/assets/events``) as
    ``TIERFLOW_AIRFLOW_API_USER``, whose password is the secret ``TIERFLOW_AIRFLOW_API_PASSWORD``
    (or ``_FILE``, or the Airflow connection ``tierflow_airflow_api``), with ``partition_key``
    (partitioned listeners ignore an event without one). Never raises: the change
    it announces is already recorded, so the answer says whether the event was sent and, if
    not, why (``tierflow lists announce`` sends it again).
    """
    from tierflow.errors import TierflowError
    from tierflow.settings import settings

    base, user = settings().airflow_api_url, settings().airflow_api_user
    answer: dict[str, Any] = {"asset": asset.name, "sent": False}
    if not base:  # no Airflow to tell (the CLI alone, `tierflow run`): nothing is missed
        answer["why"] = "TIERFLOW_AIRFLOW_API_URL is not set: the DAGs see it at their next run"
        return {**answer, "configured": False}
    try:
        event = _post_asset_event(base.rstrip("/"), user, asset, extra, partition_key)
    except TierflowError as exc:
        answer["why"] = str(exc)
        return answer
    return {
        **answer,
        "sent": True,
        "event_id": event.get("id"),
        "timestamp": event.get("timestamp"),
    }


def _post_asset_event(
    base: str, user: str | None, asset: Asset, extra: dict[str, Any], partition_key: str | None
) -> dict[str, Any]:
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    from tierflow.errors import TierflowError
    from tierflow.secrets import secret

    if not user:
        raise TierflowError("TIERFLOW_AIRFLOW_API_USER is not set")
    password = secret(
        "TIERFLOW_AIRFLOW_API_PASSWORD", "tierflow_airflow_api", "Airflow API password"
    )

    def call(method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=API_TIMEOUT_SECONDS) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise TierflowError(f"{method} {base}{path}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TierflowError(f"{method} {base}{path}: {reason}") from None

    token = call("POST", "/auth/token", {"username": user, "password": password})["access_token"]
    query = urllib.parse.urlencode({"uri_pattern": asset.uri, "limit": 100})
    found = call("GET", f"/api/v2/assets?{query}", token=token)["assets"]
    ids = [a["id"] for a in found if a["uri"] == asset.uri]
    if not ids:
        raise TierflowError(f"Airflow knows no Asset {asset.uri}: no DAG listens to it yet")
    body = {"asset_id": ids[0], "extra": extra}
    if partition_key is not None:
        body["partition_key"] = partition_key
    return call("POST", "/api/v2/assets/events", body, token)
