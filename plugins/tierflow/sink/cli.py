"""CLI: ``tierflow sink [--district CODE]``, ``tierflow feeds verify DIR [--public-key KEY]``,
``tierflow feeds ack DISTRICT RUN_ID``, ``tierflow feeds keygen [--out DIR]``,
``tierflow feeds public-key``, ``tierflow share refresh`` (design §8); the lead registers them
with ``register(add, sub)`` (``aggregate`` and ``audit`` are registered with their stages).

``feeds verify`` exits 0 when the feed verifies; like every error a person can act on
(:class:`TierflowError`), a feed that does not verify, a missing directory or no usable
public key exit 2 with one line on stderr (with ``--json``, the verifier's answer is still
printed on stdout); 1 is left for unexpected failures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierflow import storage
from tierflow.errors import TierflowError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable


def _sink(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.sink.run import sink

    return sink(args.district, args.run_id, as_of=args.as_of)


def _render_sink(result: dict[str, Any]) -> str:
    lines = [
        f"run {result['run_id']}: {result['rows']} rows to {len(result['districts'])} district(s)"
        f" in {len(result['feeds'])} feeds ({result['seconds']} s)"
    ]
    for feed in result["feeds"]:
        ops = feed["ops"]
        lines.append(
            f"  {feed['division_code']} {feed['feed']:<13} {feed['rows']:>9} rows"
            f" (+{ops['insert']} ~{ops['update']} -{ops['delete']})  {feed['path']}"
        )
    return "\n".join(lines)


class FeedRejected(TierflowError):
    """The feed does not verify; ``result`` holds the verifier's full answer (for ``--json``)."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def _verify(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.sink.signing import NO_PUBLIC_KEY, verification_keys
    from tierflow.sink.verify import verify_feed

    if len(args.args) != 1:
        raise TierflowError("usage: tierflow feeds verify DIR [--public-key KEY]...")
    path = storage.check(storage.path(args.args[0]))  # a folder or s3://bucket/…/<run_id>
    if not path.is_dir():
        raise TierflowError(f"{path}: no such feed directory")
    keys = verification_keys(args.public_key or ())
    if not keys:
        raise TierflowError(NO_PUBLIC_KEY)
    result = verify_feed(path, keys)
    result["accepted_key_ids"] = sorted(keys)
    if not result["ok"]:
        raise FeedRejected(f"{result['path']}: " + "; ".join(result["problems"]), result)
    return result


def _keygen(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.sink import signing

    if args.args:
        raise TierflowError("usage: tierflow feeds keygen [--out DIR]")
    signer = signing.new_signer()
    out = Path(args.out or ".")
    private = out / f"tierflow-signing-{signer.key_id}.key"
    public = out / f"tierflow-signing-{signer.key_id}.pub"
    signing.write_key_pair(signer, private, public)
    return {
        **signing.describe_public(signer.public_key),
        "private_key_file": str(private),
        "public_key_file": str(public),
        "use": f"{signing.KEY_ENV}_FILE={private} (or the password of the Airflow connection"
        f" {signing.AIRFLOW_CONN_ID!r}); publish {public} or the public key",
    }


def _public_key(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.sink import signing

    if args.args:
        raise TierflowError("usage: tierflow feeds public-key")
    return signing.describe_public(signing.configured_signer().public_key)


def _feeds(args: argparse.Namespace) -> dict[str, Any]:
    if args.action == "verify":
        return _verify(args)
    if args.action == "keygen":
        return _keygen(args)
    if args.action == "public-key":
        return _public_key(args)
    if len(args.args) != 2:
        raise TierflowError("usage: tierflow feeds ack DISTRICT RUN_ID")
    from tierflow.sink.ledger import ack_feed

    return ack_feed(args.args[0], args.args[1])


def _render_feeds(result: dict[str, Any]) -> str:
    if "problems" in result:
        return (
            f"{result['path']}: OK, {result['rows']} rows in {result['files']} file(s),"
            f" signed by key {result['signing_key_id']}"
        )
    if "private_key_file" in result:
        return "\n".join(
            [
                f"key id      {result['key_id']}",
                f"public key  {result['public_key']}",
                f"private key {result['private_key_file']} (mode 0600; never share it)",
                f"public PEM  {result['public_key_file']}",
            ]
        )
    if "public_key" in result:
        return f"{result['public_key']}  key id {result['key_id']} ({result['algorithm']})"
    moved = ", ".join(
        f"{name} → {info['watermark']}"
        + (" (purged)" if info.get("purge") else "" if info["moved"] else " (unchanged)")
        for name, info in result["feeds"].items()
    )
    return f"{result['district']} acknowledged {result['run_id']}: {moved}"


def _share(args: argparse.Namespace) -> dict[str, Any]:
    from tierflow.sharing.views import share_refresh

    return share_refresh(args.as_of)


def _render_share(result: dict[str, Any]) -> str:
    lines = [f"pull views as of {result['as_of']}: {result['views']} view(s)"]
    for district in result["districts"].values():
        revoked = f"; revoked {', '.join(district['revoked'])}" if district["revoked"] else ""
        lines.append(f"  {district['schema']}: {', '.join(district['views']) or '(none)'}{revoked}")
    return "\n".join(lines)


def register(add: Callable[..., argparse.ArgumentParser], sub: Any) -> None:
    s = add("sink", _sink, "publish incremental feeds to the pilot districts")
    s.add_argument("--district", default=None, help="one pilot district code (default: all)")
    s.add_argument("--run-id", default=None, help="re-use a run id to rewrite the same feed")
    s.add_argument("--as-of", type=dt.date.fromisoformat, default=None)
    s.set_defaults(render=_render_sink)

    f = add(
        "feeds",
        _feeds,
        "verify a delivered feed (exit 0 verified, 2 not: one-line reason), acknowledge a run,"
        " make a signing key pair, or print the signing key's public key",
    )
    f.add_argument("action", choices=["verify", "ack", "keygen", "public-key"])
    f.add_argument("args", nargs="*", help="verify: DIR; ack: DISTRICT RUN_ID")
    f.add_argument(
        "--public-key",
        action="append",
        metavar="KEY",
        help="verify: an accepted public key, a file or base64 (repeatable; also"
        " TIERFLOW_FEED_PUBLIC_KEYS, comma-separated; default: the signing key's)",
    )
    f.add_argument("--out", metavar="DIR", help="keygen: where to write the key files (default .)")
    f.set_defaults(render=_render_feeds)

    h = add("share", _share, "regenerate the districts' pull views and grants from the lists")
    h.add_argument("action", choices=["refresh"])
    h.add_argument("--as-of", type=dt.date.fromisoformat, default=None)
    h.set_defaults(render=_render_share)
