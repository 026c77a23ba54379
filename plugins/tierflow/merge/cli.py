"""CLI command ``tierflow merge --library NAME [--json]`` (design §8); the lead registers it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable


def _merge(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.merge.run import merge_library

    return merge_library(args.library, full=args.full)


def render_merge(result: dict[str, Any]) -> str:
    lines = [
        f"{result['library']}: {result['rows_in']} source rows, {result['inserted']} inserted,"
        f" {result['updated']} updated, {result['unchanged']} unchanged"
        f" ({result['unchanged_by_hash']} of them by change hash)"
        f" → {result['library_rows']} records ({result['seconds']} s)",
        f"history versions {result['history_rows']}, conflicts logged {result['conflicts']},"
        f" orphans flagged {result['orphans']}",
    ]
    for table, counts in result.get("tables", {}).items():
        lines.append(
            f"  {table:<14} {counts['inserted']} inserted, {counts['updated']} updated,"
            f" {counts['unchanged']} unchanged → {counts['library_rows']} records"
        )
    for delivery_id, count in sorted(result.get("orphans_by_delivery", {}).items()):
        lines.append(f"  delivery {delivery_id}: {count} orphan(s)")
    return "\n".join(lines)


def register(add: Callable[..., argparse.ArgumentParser], sub: Any) -> None:
    p = add("merge", _merge, "merge the pools' new deliveries into a foundational library")
    # any file name of schemas/survivorship/; an unknown one is refused in one line by the merge
    p.add_argument(
        "--library", required=True, help="a library: schemas/survivorship/<library>.yaml"
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="recompute every key in the pools, not only the new deliveries (after a rule change)",
    )
    p.set_defaults(render=render_merge)
