"""Named crash points for fault-injection tests (SIGKILL at a chosen step).

``TIERFLOW_KILL_AT=<point>`` makes the process kill itself, without cleanup, when it reaches
that point: the reliability tests use it to prove that a crash anywhere leaves the warehouse
and the files either as before the run or as after a complete one. Unset, it costs nothing.
"""

from __future__ import annotations

import os
import signal


def checkpoint(point: str) -> None:
    if os.environ.get("TIERFLOW_KILL_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
