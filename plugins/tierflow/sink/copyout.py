"""``COPY … TO STDOUT`` drained through libpq directly (``psycopg.pq``).

COPY TO sends one message per row. psycopg's ``Copy`` iterator spends ~0.7 µs of
Python per message (generators, a wait per call); this loop asks libpq for the next
message and waits on the socket only when none is buffered: about half the CPU, which at
millions of rows is the sink's to spend on parsing and Parquet instead.
"""

from __future__ import annotations

import io
import selectors
from collections.abc import Callable
from typing import Any

from psycopg import OperationalError, pq

from tierflow.errors import TierflowError

OnBlock = Callable[[bytes, list[int]], object]


def _wait(pgconn: pq.abc.PGconn, events: int) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(pgconn.socket, events)
        selector.select()


def _send(pgconn: pq.abc.PGconn, sql: bytes) -> None:
    pgconn.send_query(sql)
    while pgconn.flush():  # a non-blocking connection may not send it all at once
        _wait(pgconn, selectors.EVENT_WRITE)


def _result(pgconn: pq.abc.PGconn) -> Any:
    """The next result (None: the command is done), waiting for the server as needed."""
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            return pgconn.get_result()
        _wait(pgconn, selectors.EVENT_READ)


def _blocks(pgconn: pq.abc.PGconn, on_block: OnBlock, block_bytes: int) -> int:
    total = filled = 0
    get = pgconn.get_copy_data
    buffer = io.BytesIO()  # each row copied at once: libpq's message buffer is freed at once
    write = buffer.write
    starts: list[int] = []
    start = starts.append
    with selectors.DefaultSelector() as selector:
        selector.register(pgconn.socket, selectors.EVENT_READ)
        while True:
            size, data = get(1)
            if size > 0:
                start(filled)
                filled += write(data)
                if filled >= block_bytes:
                    on_block(buffer.getvalue(), starts)
                    buffer.seek(0)
                    buffer.truncate()
                    starts = []
                    start = starts.append
                    total += filled
                    filled = 0
            elif size == 0:  # nothing buffered: wait for the server
                selector.select()
                pgconn.consume_input()
            else:
                break
    if filled:
        on_block(buffer.getvalue(), starts)
    return total + filled


def _fail(pgconn: pq.abc.PGconn, result: Any) -> None:
    message = (result.error_message if result is not None else pgconn.error_message).decode(
        "utf-8", "replace"
    )
    while _result(pgconn) is not None:  # the connection must be idle again
        pass
    raise OperationalError(message.strip() or "COPY failed")


def _abandon(conn: Any) -> None:
    """The reader failed mid-COPY: cancel the statement and drain what is still coming, so
    the connection can roll back (the caller's error is the one raised)."""
    pgconn = conn.pgconn
    try:
        conn.cancel_safe()
        with selectors.DefaultSelector() as selector:
            selector.register(pgconn.socket, selectors.EVENT_READ)
            while (size := pgconn.get_copy_data(1)[0]) >= 0:
                if size == 0:
                    selector.select()
                    pgconn.consume_input()
        while _result(pgconn) is not None:
            pass
    except Exception:  # noqa: BLE001 - the connection is beyond saving: the pool discards it
        pass


def copy_out(conn: Any, sql: str, on_block: OnBlock, block_bytes: int = 1 << 20) -> int:
    """Run ``COPY (…) TO STDOUT`` (bound values already inlined) on the psycopg connection
    ``conn``; ``on_block`` receives whole rows joined, about ``block_bytes`` at a time, with
    the offset where each row (each COPY message) starts. Returns the number of bytes."""
    pgconn = conn.pgconn
    if pgconn.transaction_status not in (
        pq.TransactionStatus.IDLE,
        pq.TransactionStatus.INTRANS,
    ):
        raise TierflowError("copy_out needs an idle connection")
    _send(pgconn, sql.encode(conn.info.encoding))
    started = _result(pgconn)
    if started is None or started.status != pq.ExecStatus.COPY_OUT:
        _fail(pgconn, started)
    try:
        size = _blocks(pgconn, on_block, block_bytes)
    except BaseException:
        _abandon(conn)
        raise
    ended = _result(pgconn)
    if ended is None or ended.status != pq.ExecStatus.COMMAND_OK:
        _fail(pgconn, ended)
    while _result(pgconn) is not None:
        pass
    return size
