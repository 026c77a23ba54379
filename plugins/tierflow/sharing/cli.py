"""CLI of the lists managed online (``tierflow.sharing.store``):

``tierflow lists import [--schemas DIR]`` / ``lists export [--out DIR]``;
``tierflow demands request|list|show|decide|revoke|expire``;
``tierflow negative add|remove DATASET FIELD``. Refusals are one line, exit 2.

A change that moves the sharing policy (a decision, a revocation, an expiry, a negative-list
entry added or lifted, an import) raises the ``sharing.lists`` Asset event, as the tasks of
``demands__review`` do through their outlets: the sink DAG and the pull views follow.
``tierflow lists announce`` raises it again (e.g. after the Airflow API was unreachable).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierflow.cli_render import key_values
from tierflow.errors import TierflowError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable


def _engine():
    from tierflow import db

    return db.engine()


def _announced(
    result: dict[str, Any], change: str, subject: str, asset: Any = None
) -> dict[str, Any]:
    """``result`` with the answer of the Asset event for ``change`` (``sharing.lists``, or
    ``sharing.demands`` for a new demand: its review opens at once)."""
    import sys

    from tierflow.assets import LISTS, announce
    from tierflow.partitions import ALL_DISTRICTS

    asset = asset or LISTS
    # the sink's runs are partitioned and take the lists' events keyed for every district;
    # demands__review is not, and Airflow queues no plain DAG for a keyed event
    key = ALL_DISTRICTS if asset == LISTS else None
    event = announce(asset, {"change": change, "subject": subject}, key)
    if not event["sent"] and event.get("configured", True):  # the change stands: say so
        print(
            f"tierflow: {change} recorded; {asset.name} event not sent: {event['why']}",
            file=sys.stderr,
        )
    return {**result, "asset_event": event}


def _render_flat(result: dict[str, Any]) -> str:
    lines = [key_values(result)] if key_values(result) else []
    for key in ("entry", "request"):
        if key in result:
            lines.append(f"{key}: " + ", ".join(f"{k}={v}" for k, v in result[key].items()))
    event = result.get("asset_event")
    if event and event["sent"]:
        lines.append(f"{event['asset']} event {event['event_id']} sent")
    return "\n".join(lines)


def _lists(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.sharing import store

    if args.action == "import":
        result = store.import_lists(_engine(), Path(args.schemas) if args.schemas else None)
        return _announced(result, "lists_imported", "lists") if result["events"] else result
    if args.action == "announce":
        return _announced({}, "announced", "lists")
    return store.export_lists(_engine(), Path(args.out) if args.out else None)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _need(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) in (None, "")]
    if missing:
        raise TierflowError(f"demands {args.action} needs {', '.join(missing)}")


def _demands(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.sharing import store

    eng = _engine()
    action = args.action
    if action in ("show", "decide", "revoke") and not args.id:
        raise TierflowError(f"usage: tierflow demands {action} ID ...")
    if action in ("decide", "revoke"):
        _need(args, "by", "reason")
    if action == "request":
        _need(args, "consumer", "dataset", "fields", "purpose", "by")
        demand = store.request_demand(
            eng,
            consumer=args.consumer,
            dataset=args.dataset,
            fields=_split(args.fields),
            pseudonymise=_split(args.pseudonymise),
            purpose=args.purpose,
            valid_days=args.valid_days,
            by=args.by,
        )
        from tierflow.assets import DEMANDS

        return _announced({"demand": demand}, "demand_requested", demand["id"], DEMANDS)
    if action == "list":
        demands = store.list_demands(eng, consumer=args.consumer, status=args.status)
        return {"count": len(demands), "demands": demands}
    if action == "show":
        return store.show_demand(eng, args.id)
    if action == "decide":
        if args.approve == args.reject:
            raise TierflowError("demands decide needs exactly one of --approve, --reject")
        demand = store.decide_demand(
            eng, args.id, approve=args.approve, by=args.by, reason=args.reason
        )
        return _announced({"demand": demand}, "demand_decided", args.id)
    if action == "revoke":
        demand = store.revoke_demand(eng, args.id, by=args.by, reason=args.reason)
        return _announced({"demand": demand}, "demand_revoked", args.id)
    result = store.expire_demands(eng, args.as_of)
    return _announced(result, "demand_expired", "demands") if result["expired"] else result


def _render_demands(result: dict[str, Any]) -> str:
    if "demands" in result:
        return (
            "\n".join(
                f"{d['id']}  {d['status']:<8} {d['consumer']:<10} {d['dataset']:<22}"
                f" {','.join(d['fields'])}"
                for d in result["demands"]
            )
            or "no demands"
        )
    if "expired" in result:
        return f"{len(result['expired'])} demand(s) expired: {', '.join(result['expired'])}"
    d = result["demand"]
    lines = [
        f"{d['id']}  {d['status']}  {d['consumer']} ← {d['dataset']}: {', '.join(d['fields'])}",
        f"  purpose: {d['purpose']}",
    ]
    if d.get("approved_on"):
        lines.append(f"  approved on {d['approved_on']}, valid until {d['expires_on'] or '—'}")
    for e in result.get("events", []):
        lines.append(f"  {e['at']}  {e['actor']}: {e['kind']}  {e['reason'] or ''}".rstrip())
    if result.get("asset_event", {}).get("sent"):
        lines.append(
            f"  {result['asset_event']['asset']} event {result['asset_event']['event_id']}"
        )
    return "\n".join(lines)


def _negative(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.sharing import store

    if not args.by:
        raise TierflowError(f"negative {args.action} needs --by")
    if args.action == "add":
        if args.approve:
            raise TierflowError("--approve is for negative remove")
        result = store.add_negative(
            _engine(), args.dataset, args.field, legal_basis=args.legal_basis or "", by=args.by
        )
        return _announced(result, "negative_added", f"{args.dataset}.{args.field}")
    result = store.remove_negative(
        _engine(),
        args.dataset,
        args.field,
        by=args.by,
        reason=args.legal_basis,
        approve=args.approve,
    )
    # a removal only asked for changes nothing yet: the entry holds until a second person approves
    if result["removed"]:
        return _announced(result, "negative_removed", f"{args.dataset}.{args.field}")
    return result


def register(add: Callable[..., argparse.ArgumentParser], sub: Any) -> None:
    p = add(
        "lists",
        _lists,
        "the demand and negative lists in the warehouse: import, export, or announce a change",
    )
    p.add_argument("action", choices=["import", "export", "announce"])
    p.add_argument("--schemas", default=None, help="import from DIR/lists (default: schemas/)")
    p.add_argument("--out", default=None, help="export to DIR (default: schemas/lists)")
    p.set_defaults(render=_render_flat)

    d = add("demands", _demands, "request, decide, revoke and expire demands (with their trail)")
    d.add_argument("action", choices=["request", "list", "show", "decide", "revoke", "expire"])
    d.add_argument("id", nargs="?", help="demand id (show, decide, revoke)")
    d.add_argument("--consumer")
    d.add_argument("--dataset")
    d.add_argument("--fields", help="a,b,c")
    d.add_argument("--pseudonymise", help="a,b (among --fields)")
    d.add_argument("--purpose")
    d.add_argument("--valid-days", type=int, default=None)
    d.add_argument("--by", help="who asks or decides")
    d.add_argument("--reason")
    d.add_argument("--status", help="list: only this status")
    d.add_argument("--approve", action="store_true")
    d.add_argument("--reject", action="store_true")
    d.add_argument("--as-of", type=dt.date.fromisoformat, default=None, help="expire: the day")
    d.set_defaults(render=_render_demands)

    n = add("negative", _negative, "add to or (with a second person) remove from the negative list")
    n.add_argument("action", choices=["add", "remove"])
    n.add_argument("dataset")
    n.add_argument("field")
    n.add_argument("--legal-basis", help="add: the law; remove: why it may be lifted")
    n.add_argument("--by", help="who asks or approves")
    n.add_argument("--approve", action="store_true", help="remove: approve another's request")
    n.set_defaults(render=_render_flat)
