"""Binary COPY's rows turned into Arrow a block at a time, on a helper thread.

``copy_out`` hands over whole rows (one COPY message per row) about ``BLOCK_BYTES`` at a
time; a helper thread parses each block with ``binary.parse_rows`` and hands its rows to a
``deliver`` callback while the next block arrives: the server keeps streaming, and bytes
and table never both hold a whole statement's rows.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from tierflow.sink.binary import HEADER_BYTES, SIGNATURE, Wire, parse_rows

if TYPE_CHECKING:
    from collections.abc import Callable

BLOCK_BYTES = 8 << 20  # per hand-over to the parsing thread: two in flight per statement
PARSE_BYTES = 2 << 20  # per numpy walk of the columns: stays in the CPU's cache


class Blocks:
    """One statement's blocks: ``hand_over`` each as it arrives, ``finish`` at the end."""

    def __init__(self, fields: list[tuple[str, Wire]], deliver: Callable[[pa.Table], None]):
        self.fields = fields
        self.deliver = deliver
        self.helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-parse")
        self.pending: Future | None = None
        self.first = True

    def hand_over(self, block: bytes, starts: list[int]) -> None:
        self._wait()  # one block parsing, one arriving: memory stays bounded
        self.pending = self.helper.submit(self._parse, block, starts, self.first)
        self.first = False

    def _wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def _parse(self, block: bytes, starts: list[int], first: bool) -> None:
        at = np.asarray(starts, dtype=np.int64)
        if first:  # the first message opens with the header
            if not block.startswith(SIGNATURE) or block[HEADER_BYTES - 4 : HEADER_BYTES] != bytes(
                4
            ):
                raise ValueError("not a binary COPY header this reader understands")
            at = at[1:] if at.size > 1 and at[1] == HEADER_BYTES else at
            if at.size and at[0] == 0:
                at[0] = HEADER_BYTES
            at = at[at < len(block)]
        if at.size and block[at[-1] :] == b"\xff\xff":  # the trailer: a field count of -1
            at = at[:-1]
        # Columns are walked one at a time: in slices that stay in the CPU's cache
        pieces = []
        begin = 0
        while begin < at.size:
            base = int(at[begin])
            end = max(int(np.searchsorted(at, base + PARSE_BYTES)), begin + 1)
            stop = int(at[end]) if end < at.size else len(block)
            pieces.append(parse_rows(block[base:stop], at[begin:end] - base, self.fields))
            begin = end
        if pieces:
            self.deliver(pa.concat_tables(pieces))

    def finish(self) -> None:
        try:
            self._wait()
        finally:
            self.helper.shutdown(wait=True, cancel_futures=True)
