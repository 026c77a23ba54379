"""``tierflow feeds verify DIR``: does a delivered feed match its manifest?

Checks what a district can check on its side: ``_SUCCESS`` and ``_manifest.json`` exist;
the manifest's Ed25519 signature verifies under one of the accepted public keys (so no field
of it, hashes included, was changed by anyone without the platform's private key); the
manifest belongs where it lies (a feed's ``division_code``, ``feed`` and ``run_id`` are the
names of its ``<division_code>/<feed>/<run_id>/`` folders, the upward report's ``run_id``
that of ``national/<run_id>/``); every listed file exists with the listed size, SHA-256 and
row count; no unlisted part file is present; each file's schema is the manifest's, and the
op counts add up. The folder may be on object storage (``s3://bucket/…/<run_id>``): the same
checks, read through ``tierflow.storage``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from tierflow import storage
from tierflow.sink.publish import MANIFEST, SUCCESS, sha256_of
from tierflow.sink.signing import KEY_ID, signature_problems, verification_keys

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from upath import UPath

FEED_FORMAT = "tierflow-feed/"
REPORT_FORMAT = "tierflow-upward-report/"


def location_problems(path: Path | UPath, manifest: Mapping[str, Any]) -> list[str]:
    """Does the manifest name the folders it lies in? (A copied or renamed feed does not.)"""
    fmt = str(manifest.get("format") or "")
    if fmt.startswith(FEED_FORMAT):
        expected = [(field, manifest.get(field)) for field in ("division_code", "feed", "run_id")]
    elif fmt.startswith(REPORT_FORMAT):
        expected = [("", "national"), ("run_id", manifest.get("run_id"))]
    else:
        return [f"unknown manifest format {fmt or None!r}: cannot tell where it belongs"]
    # the path as given, ".." folded, symlinks not followed: the folders the reader sees
    parts = path.parts if storage.is_remote(path) else Path(os.path.abspath(path)).parts
    folders = ["", "", "", *parts][-len(expected) :]
    problems = []
    for (field, value), folder in zip(expected, folders, strict=True):
        if folder == value:
            continue
        if field:
            problems.append(f"the manifest's {field} {value!r} is not its folder {folder!r}")
        else:
            problems.append(f"the upward report lies under {folder!r}, not under 'national'")
    return problems


def verify_feed(
    path: Path | UPath | str, public_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> dict[str, Any]:
    """{"ok", "path", "rows", "files", "problems", …}; never raises for a bad feed.

    ``public_keys`` (by key id) are the keys a signature may verify under; by default
    :func:`tierflow.sink.signing.verification_keys` (TIERFLOW_FEED_PUBLIC_KEYS, else the
    configured signing key's public key). With no key at all the feed does not verify.
    """
    path = storage.path(path) if storage.is_remote(path) else Path(path)
    problems: list[str] = []
    result: dict[str, Any] = {"path": str(path), "ok": False, "rows": 0, "files": 0}
    if not path.is_dir():
        return {**result, "problems": [f"{path}: not a directory"]}
    keys = verification_keys() if public_keys is None else public_keys
    if not (path / SUCCESS).is_file():
        problems.append(f"{SUCCESS} missing: the feed is not complete")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {**result, "problems": [*problems, f"{MANIFEST} unreadable: {message}"]}
    if not isinstance(manifest, dict):
        return {**result, "problems": [*problems, f"{MANIFEST} is not a JSON object"]}
    problems += signature_problems(manifest, keys)
    problems += location_problems(path, manifest)
    rows = 0
    try:
        rows = _check_files(path, manifest, problems)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problems.append(f"{MANIFEST} is malformed ({type(exc).__name__}: {exc})")
    return {
        **result,
        "ok": not problems,
        "rows": rows,
        "files": len(manifest.get("files") or []),
        "feed": manifest.get("feed"),
        "division_code": manifest.get("division_code"),
        "run_id": manifest.get("run_id"),
        "watermark": manifest.get("watermark"),
        KEY_ID: manifest.get(KEY_ID),
        "problems": [_printable(p) for p in problems],
    }


def _printable(problem: str) -> str:
    """One line whatever a forged manifest holds: control characters escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in problem)


def _check_files(path: Path | UPath, manifest: dict[str, Any], problems: list[str]) -> int:
    """Each listed file against its entry; appends to ``problems``; returns the rows read."""
    listed = {f["path"] for f in manifest.get("files", [])}
    present = {p.name for p in path.glob("*.parquet")}
    problems += [f"{name}: not in the manifest" for name in sorted(present - listed)]
    expected_schema = [(c["name"], c["type"]) for c in manifest.get("schema", [])]
    rows = 0
    ops = {"insert": 0, "update": 0, "delete": 0}
    for entry in manifest.get("files", []):
        file = path / entry["path"]
        if Path(entry["path"]).name != entry["path"] or not file.is_file():
            problems.append(f"{entry['path']}: missing")
            continue
        if file.stat().st_size != entry["bytes"]:
            problems.append(
                f"{entry['path']}: {file.stat().st_size} bytes, manifest says {entry['bytes']}"
            )
        if sha256_of(file) != entry["sha256"]:
            problems.append(f"{entry['path']}: SHA-256 differs from the manifest")
            continue
        try:
            table = pq.read_table(storage.open_input_file(storage.path(file)))
        except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
            problems.append(f"{entry['path']}: not a readable Parquet file ({type(exc).__name__})")
            continue
        if table.num_rows != entry["rows"]:
            problems.append(
                f"{entry['path']}: {table.num_rows} rows, manifest says {entry['rows']}"
            )
        actual_schema = [(f.name, str(f.type)) for f in table.schema]
        if actual_schema != expected_schema:
            problems.append(f"{entry['path']}: schema differs from the manifest")
        rows += table.num_rows
        has_ops = table.num_rows and "op" in table.column_names
        for count in pc.value_counts(table.column("op")).to_pylist() if has_ops else []:
            ops[count["values"]] = ops.get(count["values"], 0) + int(count["counts"])
    if rows != manifest.get("rows"):
        problems.append(f"{rows} rows in the files, manifest says {manifest.get('rows')}")
    if "ops" in manifest and ops != manifest["ops"]:
        problems.append(f"op counts {ops} differ from the manifest's {manifest['ops']}")
    return rows
