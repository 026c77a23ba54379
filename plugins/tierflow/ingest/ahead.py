"""Run an iterator one step ahead of its consumer, on a thread.

Ingest alternates between work in this process (reading, parsing, checking a batch) and
waiting on PostgreSQL (COPY of the previous batch). Arrow compute and socket writes release
the GIL, so producing batch N+1 while batch N is copied keeps both cores busy.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterator

T = TypeVar("T")

_POLL_SECONDS = 0.1


def read_ahead(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order while a thread produces up to ``depth`` of them in advance.

    An exception in the producer is raised here, at the item where it happened. When the
    consumer stops early, the producer is stopped and ``items`` closed before this returns.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stopped.is_set():
            try:
                handoff.put((kind, value), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
            put("done", None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put("error", exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=produce, name="tierflow-read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stopped.set()
        producer.join()
