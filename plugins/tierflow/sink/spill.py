"""Where a feed's rows wait until every statement reading them has delivered.

A big source is read by several statements over ranges of its pages, each delivering rows
of every district, so no district is whole until the last statement ends. Below
:data:`SPILL_ABOVE_ROWS` rows the pieces wait in memory; above, each feed's pieces are
appended to its own Arrow IPC file in a private temporary directory (mode 0700, removed
when the run ends; a killed run's is removed by a later run) and read back memory-mapped,
so memory holds a few blocks, not the run.
The pieces are already cut to one district, its planned columns and its masks (see
``extract.py``): a spill file holds what that district's feed holds, unsorted.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa

FeedKey = tuple[str, str]  # (division code, feed name)
PREFIX = ".sink-spill-"
STALE_AFTER_SECONDS = 24 * 3600  # no run lasts a day: older spill folders are a killed run's


def clear_stale(spill_dir: Path) -> None:
    """Remove spill folders that killed runs left (other runs' live folders are younger)."""
    now = time.time()
    for stale in spill_dir.glob(f"{PREFIX}*"):
        try:
            if now - stale.stat().st_mtime > STALE_AFTER_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
        except FileNotFoundError:
            pass


class RowStore:
    """Pieces of feeds by (division code, feed name); thread-safe."""

    def __init__(self, spill_dir: Path | None = None) -> None:
        self.directory = None
        if spill_dir is not None:
            spill_dir.mkdir(parents=True, exist_ok=True)
            clear_stale(spill_dir)
            self.directory = Path(tempfile.mkdtemp(prefix=PREFIX, dir=spill_dir))
        self.lock = threading.Lock()
        self.pieces: dict[FeedKey, list[pa.Table]] = {}
        self.writers: dict[FeedKey, tuple[threading.Lock, pa.ipc.RecordBatchStreamWriter]] = {}

    @property
    def spills(self) -> bool:
        return self.directory is not None

    def add(self, key: FeedKey, piece: pa.Table) -> None:
        if self.directory is None:
            with self.lock:
                self.pieces.setdefault(key, []).append(piece)
            return
        with self.lock:
            if key not in self.writers:
                stream = pa.ipc.new_stream(self._path(key), piece.schema)
                self.writers[key] = (threading.Lock(), stream)
            lock, writer = self.writers[key]
        with lock:  # one feed's file is written by one thread at a time
            writer.write_table(piece)

    def take(self, key: FeedKey) -> list[pa.Table]:
        """The feed's pieces, once every statement delivering them has ended; then forgotten."""
        if self.directory is None:
            with self.lock:
                return self.pieces.pop(key, [])
        with self.lock:
            entry = self.writers.pop(key, None)
        if entry is None:
            return []
        entry[1].close()
        path = self._path(key)
        # zero-copy: the table's buffers map the file, whose pages stay readable after the
        # unlink until the table is freed
        table = pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
        path.unlink()
        return [table]

    def _path(self, key: FeedKey) -> Path:
        assert self.directory is not None
        return self.directory / f"{key[0]}.{key[1]}.arrows"

    def close(self) -> None:
        with self.lock:
            writers, self.writers = self.writers, {}
            self.pieces.clear()
        for _lock, writer in writers.values():
            writer.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
