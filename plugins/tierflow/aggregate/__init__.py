"""Aggregation up the tiers (village → township → district → city); the delivery audit lives in
``tierflow.quality``."""

from __future__ import annotations

from typing import Any


def aggregate(run_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
    from tierflow.aggregate.tiers import aggregate as run_aggregate

    return run_aggregate(run_id, **kwargs)


__all__ = ["aggregate"]
