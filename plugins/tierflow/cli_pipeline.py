"""CLI commands of the data path: ingest, quality report, suites, run, demo."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tierflow.errors import TierflowError


def _ingest(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.ingest.pipeline import ingest_file

    return ingest_file(Path(args.file), args.dataset, run_gx=not args.no_gx)


def _render_ingest(result: dict[str, Any]) -> str:
    lines = [
        f"{result['dataset']}: {result['rows_in']} rows in, {result['rows_accepted']} accepted,"
        f" {result['rows_quarantined']} quarantined, {result['rows_superseded']} superseded"
        + (" (already loaded: duplicate delivery)" if not result.get("loaded_now", True) else ""),
        f"quarantine: {result['quarantine']}",
    ]
    for exp in result.get("expectations", []):
        lines.append(
            f"  {exp['rule_id']:<40} {exp['severity']:<5} failed {exp['failed']} of {exp['evaluated']}"
        )
    return "\n".join(lines)


def _quality_report(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.quality import report

    return report(dataset=args.dataset, limit=args.limit)


def _render_quality(result: dict[str, Any]) -> str:
    from tierflow.quality import render_report

    return render_report(result)


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
    from tierflow.generate import generate

    started = time.perf_counter()
    url = db.describe(db.engine().url)
    migrate.upgrade()
    _demo_pseudonym_key(config.data_root())
    public_key = _demo_signing_key(config.data_root())
    sample = config.data_root() / "sample"
    generated = generate(out=sample, scale=args.scale, seed=args.seed, defect_rate=args.defect_rate)
    chain = run_chain(sample / "landing")
    return {
        "database": url,
        "generated": generated.get("files", generated),
        "chain": chain,
        "seconds": round(time.perf_counter() - started, 1),
        "data_root": str(config.data_root()),
        "public_key_file": str(public_key) if public_key else None,
    }


def _demo_pseudonym_key(root: Path) -> None:
    """The demo's own pseudonym secret when none is configured: random, kept 0600 under the data root.

    Production sets ``TIERFLOW_PSEUDONYM_KEY`` or the Airflow connection ``tierflow_pseudonym``.
    """
    import os
    import secrets

    if os.environ.get("TIERFLOW_PSEUDONYM_KEY") or os.environ.get("TIERFLOW_PSEUDONYM_KEY_FILE"):
        return
    key_file = root / "secrets" / "pseudonym.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
    os.environ["TIERFLOW_PSEUDONYM_KEY"] = key_file.read_text(encoding="utf-8").strip()


def _demo_signing_key(root: Path) -> Path | None:
    """The demo's own feed signing key when none is configured, like its pseudonym secret:
    random, kept 0600 under the data root (``secrets/signing.key``, public key beside it).

    Production sets ``TIERFLOW_SIGNING_KEY`` (or ``…_FILE``) or the Airflow connection
    ``tierflow_signing``. Returns the public key file the demo's feeds verify with.
    """
    import os

    from tierflow.sink.signing import KEY_ENV, new_signer, write_key_pair

    if os.environ.get(KEY_ENV) or os.environ.get(f"{KEY_ENV}_FILE"):
        return None
    key_file = root / "secrets" / "signing.key"
    public_file = key_file.with_suffix(".pub")
    if not key_file.exists():
        public_file.unlink(missing_ok=True)
        write_key_pair(new_signer(), key_file, public_file)
    os.environ[f"{KEY_ENV}_FILE"] = str(key_file)
    return public_file


def _render_demo(result: dict[str, Any]) -> str:
    from tierflow.chain import render_chain

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

    q = add("quality", _quality_report, "quality history of the deliveries")
    q.add_argument("action", choices=["report"])
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
    d.set_defaults(render=_render_demo)
