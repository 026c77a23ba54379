"""CLI commands of the data path: ingest, quality report, suites, run, demo."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierflow.errors import TierflowError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable


def _ingest(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.ingest.lean import without_pandas
    from tierflow.ingest.pipeline import ingest_file

    without_pandas()  # this process loads one file and exits: no pandas needed

    return ingest_file(Path(args.file), args.dataset, run_gx=not args.no_gx)


def _render_ingest(result: dict[str, Any]) -> str:
    lines = [
        f"{result['dataset']}: {result['rows_in']} rows in, {result['rows_accepted']} accepted,"
        f" {result['rows_quarantined']} quarantined, {result['rows_superseded']} superseded"
        + (" (already loaded: duplicate delivery)" if not result.get("loaded_now", True) else ""),
        f"quarantine: {result['quarantine']}",
    ]
    if result.get("gx_report") == "pending":
        lines.append(
            f"GX report: pending (tierflow quality validate {result['delivery_id']} writes it)"
        )
    for exp in result.get("expectations", []):
        lines.append(
            f"  {exp['rule_id']:<40} {exp['severity']:<5} failed {exp['failed']} of {exp['evaluated']}"
        )
    return "\n".join(lines)


def _quality(args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "validate":
        return _quality_validate(args)
    if args.delivery_id is not None or args.pending:
        raise TierflowError("quality report takes neither a delivery id nor --pending")
    from tierflow.quality import report

    return report(dataset=args.dataset, limit=args.limit)


def _quality_validate(args: argparse.Namespace) -> dict[str, Any]:
    """``quality validate DELIVERY_ID | --pending [--dataset D]``: GX reports after the load."""
    from tierflow.ingest import gx

    if (args.delivery_id is None) == (not args.pending):
        raise TierflowError("quality validate needs a delivery id or --pending (not both)")
    if args.pending:
        return gx.validate_pending(args.dataset)
    if not args.delivery_id.isdigit():
        raise TierflowError(f"not a delivery id: {args.delivery_id!r}")
    return {"validated": [gx.validate_delivery(int(args.delivery_id))]}


def _render_quality(result: dict[str, Any]) -> str:
    if "validated" in result:
        return _render_validated(result)
    from tierflow.quality import render_report

    return render_report(result)


def _render_validated(result: dict[str, Any]) -> str:
    if not result["validated"]:
        return "no delivery has a GX report pending"
    lines = []
    for r in result["validated"]:
        if r["scope"] == "empty":
            lines.append(f"delivery {r['delivery_id']} ({r['dataset']}): no rows, no GX run")
            continue
        verdict = "passed" if r["success"] else f"{r['failed']} of {r['evaluated']} failed"
        lines.append(
            f"delivery {r['delivery_id']} ({r['dataset']}, {r['scope']}): GX {verdict};"
            f" Data Docs {r['data_docs']}"
        )
    return "\n".join(lines)


def _suites(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.checks import suites

    if args.action == "build":
        written = suites.write_suites()
        return {"written": [str(p) for p in written]}
    stale = suites.check_suites()
    if stale:
        raise TierflowError(
            f"suites out of date with schemas/: {', '.join(stale)} (run: tierflow suites build)"
        )
    return {"up_to_date": True}


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.chain import run_chain

    return run_chain(Path(args.landing), run_gx=not args.no_gx)


def _render_run(result: dict[str, Any]) -> str:
    from tierflow.chain import render_chain

    return render_chain(result)


def _demo(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow import config, db, migrate
    from tierflow.chain import run_chain
    from tierflow.demo_keys import provision_demo_secrets
    from tierflow.generate import generate

    if args.stop:
        from tierflow.demo_stack import stop_demo_stack

        return stop_demo_stack()
    if args.ui:
        from tierflow.demo_stack import start_demo_stack

        return start_demo_stack(scale=args.scale, seed=args.seed, defect_rate=args.defect_rate)
    started = time.perf_counter()
    url = db.describe(db.engine().url)
    migrate.upgrade()
    public_key = provision_demo_secrets().get("public_key_file")
    sample = config.data_root() / "sample"
    generated = generate(out=sample, scale=args.scale, seed=args.seed, defect_rate=args.defect_rate)
    chain = run_chain(sample / "landing", audit="delivered")
    return {
        "database": url,
        "generated": generated.get("files", generated),
        "chain": chain,
        "seconds": round(time.perf_counter() - started, 1),
        "data_root": str(config.data_root()),
        "public_key_file": str(public_key) if public_key else None,
    }


def _render_demo(result: dict[str, Any]) -> str:
    from tierflow.chain import render_chain

    if "chain" not in result:  # --ui or --stop
        from tierflow.demo_stack import render

        return render(result)

    root = result["data_root"]
    look = [
        (f"{root}/sample/landing/", "the synthetic extracts"),
        (f"{root}/sample/_ground_truth.parquet", "every defect the generator injected"),
        (f"{root}/quarantine/", "quarantined rows as delivered, with _reasons (Parquet)"),
        (f"{root}/feeds/", "district feeds: <division>/<library-or-dataset>/<run_id>/"),
        (f"{root}/docs/data_docs/index.html", "Great Expectations Data Docs"),
        (".venv/bin/tierflow quality report", "pass rates per expectation, the delivery audit"),
        (
            ".venv/bin/tierflow feeds verify DIR"
            + (
                f" --public-key {result['public_key_file']}"
                if result.get("public_key_file")
                else ""
            ),
            "checks a delivered feed (signature, folder, hashes, counts, _SUCCESS)",
        ),
        ("make db-stop", "stops the embedded PostgreSQL"),
    ]
    width = max(len(where) for where, _ in look)
    return "\n".join(
        [
            f"warehouse: {result['database']}",
            render_chain(result["chain"]),
            f"done in {result['seconds']} s. Look at:",
            *(f"  {where.ljust(width)}  {what}" for where, what in look),
        ]
    )


def register(add: Callable[..., argparse.ArgumentParser], sub: Any) -> None:
    from tierflow.aggregate.cli import register as register_aggregate
    from tierflow.merge.cli import register as register_merge
    from tierflow.quality.cli import register as register_audit
    from tierflow.sink.cli import register as register_sink

    register_merge(add, sub)
    register_sink(add, sub)
    register_aggregate(add, sub)
    register_audit(add, sub)
    p = add("ingest", _ingest, "check one delivered file and load its good rows into the pool")
    p.add_argument("file")
    p.add_argument("--dataset", required=True, help="dataset id, e.g. psb.household")
    p.add_argument(
        "--no-gx",
        action="store_true",
        help="skip the Great Expectations run (vectorised checks still apply)",
    )
    p.set_defaults(render=_render_ingest)

    q = add("quality", _quality, "quality history of the deliveries; GX reports after the load")
    q.add_argument("action", choices=["report", "validate"])
    q.add_argument("delivery_id", nargs="?", help="for validate: the delivery to report on")
    q.add_argument("--pending", action="store_true", help="for validate: every pending report")
    q.add_argument("--dataset", default=None)
    q.add_argument("--limit", type=int, default=20)
    q.set_defaults(render=_render_quality)

    s = add("suites", _suites, "Great Expectations suites generated from the contracts")
    s.add_argument("action", choices=["build", "check"])

    r = add("run", _run, "the whole chain once, in order, without a scheduler")
    r.add_argument("--landing", required=True)
    r.add_argument("--no-gx", action="store_true")
    r.set_defaults(render=_render_run)

    d = add("demo", _demo, "generate sample extracts and run the whole chain on them")
    d.add_argument("--scale", type=int, default=20_000)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--defect-rate", type=float, default=0.02)
    how = d.add_mutually_exclusive_group()
    how.add_argument(
        "--ui",
        action="store_true",
        help="run it under Airflow (deploy/local/stack.sh) and leave the UI up (make demo-ui)",
    )
    how.add_argument(
        "--stop", action="store_true", help="stop what --ui started and the embedded PostgreSQL"
    )
    d.set_defaults(render=_render_demo)
