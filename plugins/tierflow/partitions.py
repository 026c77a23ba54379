"""Partition keys of tierflow's runs and the aggregate's wait policy (``schemas/partitions.yaml``).

- an ingest run and its ``pool.<table>`` events: the delivery date, ``YYYY-MM-DD`` (the
  landing folder ``<dept>/<dataset>/<date>/``);
- a merge run: the delivery date of the pool event that started it (its library event keeps it);
- a sink run: ``all`` (every pilot district; what Asset events start) or one district's code
  (an operator's re-run); each district's ``feeds`` event carries that district's code; a run
  keyed ``all`` with an Asset-triggered run queued behind it publishes nothing
  (``superseded_by``);
- the aggregate: ``city``, rolled up from the districts' ``feeds`` partitions under the policy.

Light: DAG files import it at parse time (pydantic and YAML only).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierflow.errors import TierflowError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

ALL_DISTRICTS = "all"  # a sink run over every pilot district
CITY = "city"  # the aggregate's one rolled-up partition
DATE_FORMAT = "%Y-%m-%d"  # delivery dates: the landing folder's name


class PartitionError(TierflowError):
    """A partition key no run can take (not a date, not a pilot district)."""


class WaitFor(StrEnum):
    all = "all"
    minimum = "minimum"


class AggregatePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    wait_for: WaitFor
    minimum: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _minimum_with_its_mode(self) -> AggregatePolicy:
        if (self.wait_for is WaitFor.minimum) != (self.minimum is not None):
            raise ValueError("minimum is required with wait_for: minimum, and only with it")
        return self


class PartitionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    aggregate: AggregatePolicy


def load_policy(path: Path | None = None) -> PartitionPolicy:
    """The policy file, validated (unknown keys refused); a one-line error otherwise."""
    from tierflow.config import schemas_dir
    from tierflow.contracts import _read_yaml, _validate

    path = path or schemas_dir() / "partitions.yaml"
    policy = _validate(PartitionPolicy, path, _read_yaml(path))
    assert isinstance(policy, PartitionPolicy)
    return policy


def check_minimum(policy: AggregatePolicy, districts: int) -> None:
    if policy.minimum is not None and policy.minimum > districts:
        raise PartitionError(
            f"partitions.yaml: aggregate.minimum {policy.minimum} exceeds the {districts} pilot"
            " districts: the aggregate would never run"
        )


def describe(policy: AggregatePolicy, districts: int) -> str:
    if policy.wait_for is WaitFor.all:
        return f"all {districts} pilot districts"
    return f"at least {policy.minimum} of {districts} pilot districts"


def coverage(policy: AggregatePolicy, expected: list[str], arrived: list[str]) -> dict[str, Any]:
    """Which pilot districts' feed partitions an aggregate run saw, and which it went without."""
    got = set(arrived)
    return {
        "policy": describe(policy, len(expected)),
        "expected": len(expected),
        "districts_in": sorted(got & set(expected)),
        "districts_missing": sorted(set(expected) - got),
    }


def sink_districts(partition_key: str | None, pilots: list[str]) -> list[str]:
    """The districts a sink run publishes: all for ``all`` (or no key), else the one named."""
    if partition_key in (None, ALL_DISTRICTS):
        return list(pilots)
    if partition_key not in pilots:
        raise PartitionError(
            f"partition key {partition_key!r} is neither {ALL_DISTRICTS!r} nor a pilot district's"
            " code"
        )
    return [partition_key]


# How Airflow names the runs Asset events start (DagRunType.ASSET_TRIGGERED): the sink's are
# keyed ``all`` (tierflow.assets.sink_schedule maps every event to it)
ASSET_TRIGGERED_PREFIX = "asset_triggered__"


def not_started(
    first_task_states: dict[str, dict[str, Any]], task_id: str, own_run: str
) -> list[str]:
    """The other runs whose first task (``task_id``) has not run yet, from Airflow's
    ``get_task_states`` answer (run id → task id → state): queued ones among them run later."""
    waiting = (None, "scheduled", "queued")
    return [
        run_id
        for run_id, tasks in first_task_states.items()
        if run_id != own_run and task_id in tasks and tasks[task_id] in waiting
    ]


def superseded_by(partition_key: str | None, queued_runs: Iterable[str]) -> list[str]:
    """The queued runs of the sink that will publish everything this run would, later (empty:
    this run publishes).

    ``queued_runs``: the ids of the sink's other runs that are queued and have not started. One
    started by Asset events is keyed ``all`` and reads every district's feeds from its last
    acknowledged watermark when it runs, so a run keyed ``all`` (or none) would only publish a
    subset of the same rows first: Airflow queues one run per burst of events and does not fold
    them (a morning's merges queued eleven in a row). An operator's queued run may be keyed by
    one district, so only Asset-triggered runs count; a run keyed by one district was asked
    for and is never superseded.
    """
    if partition_key not in (None, ALL_DISTRICTS):
        return []
    return sorted(run for run in queued_runs if run.startswith(ASSET_TRIGGERED_PREFIX))


def delivery_date(partition_key: str | None) -> str | None:
    """The delivery date an ingest run is keyed by (``YYYY-MM-DD``), or None (a manual run
    without a key: every pending delivery)."""
    import datetime as dt

    if partition_key is None:
        return None
    try:
        return dt.datetime.strptime(partition_key, DATE_FORMAT).date().isoformat()
    except ValueError:
        raise PartitionError(
            f"partition key {partition_key!r} is not a delivery date (YYYY-MM-DD)"
        ) from None
