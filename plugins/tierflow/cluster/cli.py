"""``tierflow cluster up [--workers N] [--shards N] | down | status`` (design §8)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable


def _cluster(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.cluster import nodes

    if args.action == "up":
        state, _ = nodes.up(workers=args.workers, shard_count=args.shards)
        return {"url": nodes.url(state.coordinator)}
    if args.action == "down":
        return {"stopped": nodes.down()}
    return nodes.status()


def _render(result: dict[str, Any]) -> str:
    if "nodes" not in result:
        return "\n".join(f"{key}  {value}" for key, value in result.items())
    if not result["nodes"]:
        return "no local cluster (run: tierflow cluster up)"
    lines = [f"coordinator url  {result['url']}  (shard count {result['shard_count']})"]
    for node in result["nodes"]:
        state = "running" if node["running"] else "stopped"
        lines.append(
            f"  {node['name']:<12} {node['role']:<11} port {node['port']:<5} {state:<8}"
            f" {node['shards']} shard placements"
        )
    return "\n".join(lines)


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add(
        "cluster", _cluster, "a local Citus cluster (coordinator + workers) for tests and trials"
    )
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--workers", type=int, default=2, help="up: number of workers (default 2)")
    p.add_argument(
        "--shards", type=int, default=32, help="up: shards per distributed table (default 32)"
    )
    p.set_defaults(render=_render)
