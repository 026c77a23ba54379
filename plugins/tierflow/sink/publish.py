"""Atomic, byte-reproducible publication of directories of Parquet parts plus a manifest.

Everything is written into a hidden temporary directory beside each target, each file
fsynced, ``_manifest.json`` last before ``_SUCCESS``; then one ``rename`` per target makes
the whole directory appear. Several feeds (one district's) are published together: all
their files are written first, then fsynced, then their directories, then renamed, so the
waits for the disk come in one run instead of one per feed. A reader that lists run directories (skipping dot-names) and requires
``_SUCCESS`` never sees half a feed; a killed writer leaves only a hidden temp directory,
which the next attempt removes. Parquet settings are fixed and rows arrive sorted, so the
same rows give the same bytes.

On object storage (``s3://``) there is no rename: each feed's parts are written into its
folder first, then its manifest, then ``_SUCCESS`` last, each an object that appears whole
when its upload completes. Readers and ``feeds verify`` key on ``_SUCCESS``, so a killed
writer leaves a folder without it (never read), which the next attempt overwrites with the
same bytes; a re-run of a feed already published with the same manifest leaves it untouched.

Every manifest is signed here, as a whole (``sink.signing``: ``signing_key_id`` and an
Ed25519 ``signature`` over everything else), so whatever fields a caller puts in a manifest
are covered; Ed25519 is deterministic, so a re-run still writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from tierflow import storage
from tierflow.faults import checkpoint
from tierflow.settings import settings

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tierflow.sink.signing import Signer

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
# Fixed writer settings: a different pyarrow default must not change the bytes silently.
PARQUET_OPTIONS: dict[str, Any] = dict(
    compression="zstd",
    compression_level=3,
    version="2.6",
    data_page_version="1.0",
    use_dictionary=True,
    write_statistics=True,
    row_group_size=128 * 1024,
    store_schema=True,
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_dir_for(target: Path) -> Path:
    return target.parent / f".{target.name}.tmp-{os.getpid()}"


def clear_stale(target: Path) -> None:
    """Remove what killed writers left beside ``target`` (hidden temp/old directories)."""
    if not target.parent.is_dir():
        return
    for stale in target.parent.glob(f".{target.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)


def _write_bytes(path: Path, data: pa.Buffer | bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)


def write_parts(
    table: pa.Table, directory: Path, *, fsync: bool = True, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Parquet part files of at most ROWS_PER_PART rows; returns [{path, rows, bytes, sha256}].

    ``dry_run``: only the entries (the parts serialised and hashed, nothing written).

    Each part is serialised in memory and hashed there, then written once (no read-back). An
    empty table still gets one part with its schema and no rows, so a reader globbing the
    feed's parts (DuckDB's ``read_parquet``, pyarrow datasets) never meets a folder without.
    """
    files = []
    rows_per_part = settings().feed_rows_per_part
    for index, start in enumerate(range(0, max(table.num_rows, 1), rows_per_part)):
        part = table.slice(start, rows_per_part)
        path = directory / f"part-{index:05d}.parquet"
        sink = pa.BufferOutputStream()
        pq.write_table(part, sink, **PARQUET_OPTIONS)
        data = sink.getvalue()
        if not dry_run:
            _write_bytes(path, data)
        if fsync and not dry_run:
            _fsync_file(path)
        files.append(
            {
                "path": path.name,
                "rows": part.num_rows,
                "bytes": data.size,
                "sha256": hashlib.sha256(memoryview(data)).hexdigest(),
            }
        )
    return files


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def publish_feeds(
    feeds: Sequence[tuple[Path, pa.Table, dict[str, Any]]], *, signer: Signer
) -> list[dict[str, Any]]:
    """Publish each ``(target, table, manifest)`` atomically; returns the (signed) manifests written.

    Every target appears complete or not at all, whatever kills the process: parts,
    manifests and ``_SUCCESS`` files are all written and fsynced, then each temporary
    directory is fsynced, and only then are the directories renamed into place (on object
    storage: parts, manifests, then the ``_SUCCESS`` objects, see the module's docstring).
    """
    if any(storage.is_remote(target) for target, _table, _manifest in feeds):
        return _publish_in_place(feeds, signer=signer)
    staged: list[tuple[Path, Path, dict[str, Any]]] = []
    for target, table, manifest in feeds:
        target.parent.mkdir(parents=True, exist_ok=True)
        clear_stale(target)
        temp = temp_dir_for(target)
        temp.mkdir()
        files = write_parts(table, temp, fsync=False)
        signed = signer.sign({**manifest, "files": files, "rows": table.num_rows})
        staged.append((target, temp, signed))
    checkpoint("sink.after_parts")
    for _target, temp, manifest in staged:
        (temp / MANIFEST).write_bytes(manifest_bytes(manifest))
        (temp / SUCCESS).write_bytes(b"")
    for _target, temp, manifest in staged:
        for name in [*(f["path"] for f in manifest["files"]), MANIFEST, SUCCESS]:
            _fsync_file(temp / name)
    for _target, temp, _manifest in staged:
        _fsync_dir(temp)
    checkpoint("sink.before_rename")
    for target, temp, _manifest in staged:
        if target.exists():
            # A re-run: its content is the same bytes; move the old copy aside, then swap.
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            target.rename(old)
            temp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            temp.rename(target)
    for parent in dict.fromkeys(target.parent for target, _temp, _manifest in staged):
        _fsync_dir(parent)
    checkpoint("sink.after_rename")
    return [manifest for _target, _temp, manifest in staged]


def _publish_in_place(
    feeds: Sequence[tuple[Path, pa.Table, dict[str, Any]]], *, signer: Signer
) -> list[dict[str, Any]]:
    """Object storage: all parts, then all manifests, then every ``_SUCCESS`` (no rename)."""
    staged: list[tuple[Path, dict[str, Any], bool]] = []
    for target, table, manifest in feeds:
        done = False
        if (target / SUCCESS).exists():  # a re-run: the same bytes, unless something changed
            parts = write_parts(table, target, fsync=False, dry_run=True)
            signed = signer.sign({**manifest, "files": parts, "rows": table.num_rows})
            done = _published_as(target, signed)
            if not done:
                (target / SUCCESS).unlink(missing_ok=True)  # a different copy: withdrawn first
        if not done:
            parts = write_parts(table, target, fsync=False)
            signed = signer.sign({**manifest, "files": parts, "rows": table.num_rows})
            listed = {f["path"] for f in parts}
            for stray in target.glob("part-*.parquet"):  # parts an earlier attempt left
                if stray.name not in listed:
                    stray.unlink(missing_ok=True)
        staged.append((target, signed, done))
    checkpoint("sink.after_parts")
    for target, manifest, done in staged:
        if not done:
            (target / MANIFEST).write_bytes(manifest_bytes(manifest))
    checkpoint("sink.before_rename")
    for target, _manifest, done in staged:
        if not done:
            (target / SUCCESS).write_bytes(b"")
    checkpoint("sink.after_rename")
    return [manifest for _target, manifest, _done in staged]


def _published_as(target: Path, manifest: dict[str, Any]) -> bool:
    """Is ``target`` already published (``_SUCCESS``) with exactly this manifest?"""
    try:
        return (target / MANIFEST).read_bytes() == manifest_bytes(manifest)
    except FileNotFoundError:
        return False


def publish_table(
    target: Path, table: pa.Table, manifest: dict[str, Any], *, signer: Signer
) -> dict[str, Any]:
    """Write ``table`` as parts plus manifest into ``target`` atomically; returns the manifest."""
    return publish_feeds([(target, table, manifest)], signer=signer)[0]
