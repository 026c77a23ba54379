"""CLI of the delivery audit: ``tierflow audit`` (design §8)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable


def _audit(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.quality.audit import audit_deliveries

    return audit_deliveries(args.start, args.end)


def _render_audit(result: dict[str, Any]) -> str:
    lines = [
        f"{result['start']} … {result['end']}: {result['due']} due, {result['on_time']} on time,"
        f" {result['late']} late, {result['missing']} missing, {result['rejected']} rejected"
    ]
    lines += [f"  {p['due_at']} {p['dataset']:<24} {p['status']}" for p in result["problems"]]
    return "\n".join(lines)


def register(add: Callable[..., argparse.ArgumentParser], sub: Any) -> None:
    u = add("audit", _audit, "audit deliveries against the responsibility list")
    u.add_argument("--start", type=dt.date.fromisoformat, default=None)
    u.add_argument("--end", type=dt.date.fromisoformat, default=None)
    u.set_defaults(render=_render_audit)
