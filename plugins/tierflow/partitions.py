"""Partition keys of tierflow's runs and the aggregate's wait policy (``schemas/partitions.yaml``).

- an ingest run and its ``pool.<table>`` events: the delivery date, ``YYYY-MM-DD`` (the
  landing folder ``<dept>/<dataset>/<date>/``);
- a merge run: the delivery date of the pool event that started it (its library event keeps it);
- a sink run: ``all`` (every pilot district; what Asset events start) or one district's code
  (an operator's re-run); each district's ``feeds`` event carries that district's code;
- the aggregate: ``city``, rolled up from the districts' ``feeds`` partitions under the policy.

Light: DAG files import it at parse time (pydantic and YAML only).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tierflow.errors import TierflowError

if TYPE_CHECKING:
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
