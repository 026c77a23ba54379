"""Atomic, byte-reproducible publication of a directory of Parquet parts plus a manifest.

Everything is written into a hidden temporary directory beside the target, each file
fsynced, ``_manifest.json`` last before ``_SUCCESS``; then one ``rename`` makes the whole
directory appear. A reader that lists run directories (skipping dot-names) and requires
``_SUCCESS`` never sees half a feed; a killed writer leaves only a hidden temp directory,
which the next attempt removes. Parquet settings are fixed and rows arrive sorted, so the
same rows give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tierflow.faults import checkpoint

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
ROWS_PER_PART = int(os.environ.get("TIERFLOW_FEED_ROWS_PER_PART", "1000000"))
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


def write_parts(table: pa.Table, directory: Path) -> list[dict[str, Any]]:
    """Parquet part files of at most ROWS_PER_PART rows; returns [{path, rows, bytes, sha256}]."""
    files = []
    for index, start in enumerate(range(0, table.num_rows, ROWS_PER_PART)):
        part = table.slice(start, ROWS_PER_PART)
        path = directory / f"part-{index:05d}.parquet"
        pq.write_table(part, path, **PARQUET_OPTIONS)
        _fsync_file(path)
        files.append(
            {
                "path": path.name,
                "rows": part.num_rows,
                "bytes": path.stat().st_size,
                "sha256": sha256_of(path),
            }
        )
    return files


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def publish_table(target: Path, table: pa.Table, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``table`` as parts plus manifest into ``target`` atomically; returns the manifest."""
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(target)
    temp = temp_dir_for(target)
    temp.mkdir()
    files = write_parts(table, temp)
    checkpoint("sink.after_parts")
    manifest = {**manifest, "files": files, "rows": table.num_rows}
    (temp / MANIFEST).write_bytes(manifest_bytes(manifest))
    _fsync_file(temp / MANIFEST)
    (temp / SUCCESS).write_bytes(b"")
    _fsync_file(temp / SUCCESS)
    _fsync_dir(temp)
    checkpoint("sink.before_rename")
    if target.exists():
        # A re-run: its content is the same bytes; move the old copy aside, then swap.
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        target.rename(old)
        temp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        temp.rename(target)
    _fsync_dir(target.parent)
    checkpoint("sink.after_rename")
    return manifest
