"""CLI of the aggregation: ``tierflow aggregate`` (design §8)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable


def _aggregate(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.aggregate.tiers import aggregate

    return aggregate(args.run_id, as_of=args.as_of)


def _render_aggregate(result: dict[str, Any]) -> str:
    rows = ", ".join(f"{subject} {n}" for subject, n in result["rows"].items())
    return (
        f"run {result['run_id']} (as of {result['as_of']}): {rows} tier rows;"
        f" upward report {result['report']['path']} ({result['report']['rows']} rows)"
    )


def register(add: Callable[..., argparse.ArgumentParser], sub: Any) -> None:
    a = add("aggregate", _aggregate, "aggregate up the tiers and publish the upward report")
    a.add_argument("--run-id", default=None)
    a.add_argument("--as-of", type=dt.date.fromisoformat, default=None)
    a.set_defaults(render=_render_aggregate)
