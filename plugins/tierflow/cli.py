"""``tierflow`` command line (design §8): a human summary, or one JSON object with ``--json``.

Every subcommand calls the same plain functions the DAGs call. Errors a person can act on
are printed as one line on stderr with a non-zero exit; ``TIERFLOW_DEBUG=1`` adds tracebacks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierflow.cli_render import key_values
from tierflow.errors import TierflowError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def _emit(result: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], str]) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, default=str))
    else:
        print(render(result))


# --- subcommands -----------------------------------------------------------------------------


def cmd_generate(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.generate import generate

    return generate(
        out=args.out,  # a folder or a storage URL
        scale=args.scale,
        seed=args.seed,
        defect_rate=args.defect_rate,
        as_of=args.as_of,
        fmt=args.format,
        encoding=args.encoding,
        townships_csv=Path(args.townships) if args.townships else None,
        datasets=args.dataset or None,
    )


def cmd_db(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow import db, migrate

    if args.action == "stop":
        return {"stopped": db.stop_embedded()}
    url = db.describe(db.engine().url)
    if args.action == "upgrade":
        return {"database": url, "revision": migrate.upgrade(args.revision or "head")}
    if args.action == "downgrade":
        return {"database": url, "revision": migrate.downgrade(args.revision or "base")}
    if args.action == "load-townships":
        from tierflow.contracts import catalog
        from tierflow.divisions import load_official_townships

        if not args.csv:
            raise TierflowError("db load-townships needs --csv PATH")
        known = {d.code for d in catalog().divisions.divisions}
        with db.engine().begin() as conn:
            loaded = load_official_townships(conn, Path(args.csv), known)
        return {"database": url, "townships_loaded": loaded}
    return {"database": url, "revision": migrate.current()}


def cmd_contracts(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.contracts import load_catalog

    cat = load_catalog(Path(args.schemas) if args.schemas else None)
    return {
        "datasets": len(cat.datasets),
        "divisions": len(cat.divisions.divisions),
        "pilots": len(cat.divisions.pilot_codes),
        "demands": len(cat.demand.demands),
        "negative_entries": len(cat.negative.entries),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tierflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.set_defaults(handler=handler)
        return p

    g = add("generate", cmd_generate, "write realistic synthetic extracts for every dataset")
    g.add_argument("--out", required=True)
    g.add_argument(
        "--scale", type=int, default=10_000, help="household rows; other datasets scale with it"
    )
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--defect-rate", type=float, default=0.0)
    g.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        default=None,
        help="delivery date (default: yesterday)",
    )
    g.add_argument("--format", choices=["csv", "parquet", "jsonl"], default=None)
    g.add_argument("--encoding", choices=["utf-8", "utf-8-sig", "gb18030"], default=None)
    g.add_argument(
        "--townships", default=None, help="official township CSV (code,name,…) to draw codes from"
    )
    g.add_argument("--dataset", action="append", help="only this dataset (repeatable)")

    d = add("db", cmd_db, "warehouse migrations and the embedded server")
    d.add_argument("action", choices=["upgrade", "downgrade", "current", "stop", "load-townships"])
    d.add_argument("revision", nargs="?")
    d.add_argument("--csv", help="for load-townships: the statistical township table")

    c = add("contracts", cmd_contracts, "load and validate every contract under schemas/")
    c.add_argument("--schemas", default=None)

    from tierflow.cluster.cli import register as register_cluster

    register_cluster(add)
    _register_pipeline_commands(add, sub)
    return parser


def _register_pipeline_commands(add: Callable, sub: Any) -> None:
    """Stages that exist so far register themselves here (ingest, quality, …)."""
    try:
        from tierflow import cli_pipeline
    except ImportError:  # pragma: no cover - stage not built yet
        return
    cli_pipeline.register(add, sub)
    from tierflow.sharing.cli import register as register_lists

    register_lists(add, sub)


# Commands that read or write the warehouse: its schema must be this tierflow's first.
WAREHOUSE_COMMANDS = {
    "ingest",
    "merge",
    "sink",
    "aggregate",
    "audit",
    "run",
    "quality",
    "share",
    "lists",
    "demands",
    "negative",
}


# Commands that read or write files under TIERFLOW_STORAGE: a remote store is checked first
# (a bad URL, an unreachable endpoint or a missing bucket is one line, exit 2)
STORAGE_COMMANDS = {"ingest", "sink", "aggregate", "run", "demo"}


def _check_storage(args: argparse.Namespace) -> None:
    from tierflow import storage

    acks = args.command == "feeds" and args.action == "ack"  # verifies the run's feeds first
    if args.command in STORAGE_COMMANDS or acks:
        storage.check(storage.root())


def _needs_warehouse(args: argparse.Namespace) -> bool:
    if args.command == "feeds":
        return args.action == "ack"
    return args.command in WAREHOUSE_COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from tierflow.settings import settings

    debug = settings().debug
    # psycopg logs a warning of its own when it abandons a pipeline after a server error (as
    # when a Citus worker is down): the error itself is the one line printed below
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    try:
        _check_storage(args)
        if _needs_warehouse(args):
            from tierflow import db, migrate

            migrate.require_current(embedded=not db.is_configured())
        result = args.handler(args)
    except TierflowError as exc:
        print(f"tierflow {args.command}: error: {exc}", file=sys.stderr)
        if args.json and isinstance(getattr(exc, "result", None), dict):
            _emit(exc.result, True, key_values)  # e.g. a feed that does not verify: the full answer
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"tierflow {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: still one line, never a bare traceback
        if debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"tierflow {args.command}: error: {type(exc).__name__}: {message}", file=sys.stderr)
        return 1
    _emit(result, args.json, getattr(args, "render", key_values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
