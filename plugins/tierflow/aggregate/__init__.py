"""Aggregation up the tiers (village → township → district → city) and the delivery audit."""

from __future__ import annotations

from typing import Any


def aggregate(run_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
    from tierflow.aggregate.tiers import aggregate as run_aggregate

    return run_aggregate(run_id, **kwargs)


def audit_report(**kwargs: Any) -> dict[str, Any]:
    from tierflow.aggregate.audit import audit_report as run_report

    return run_report(**kwargs)


__all__ = ["aggregate", "audit_report"]
