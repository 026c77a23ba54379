"""Named crash points for fault-injection tests.

``TIERFLOW_KILL_AT=<point>`` makes the process SIGKILL itself, without cleanup, when it reaches
that point; ``TIERFLOW_FAIL_AT=<point>`` raises :class:`InjectedFault` there once (the first
time, recorded in the file ``TIERFLOW_FAIL_MARKER``), so an Airflow retry then succeeds. The
reliability tests use them to prove a crash anywhere leaves things as before the run or as
after a complete one, and that a retry equals one clean run. Unset, they cost nothing.
"""

from __future__ import annotations

import os
import signal

from tierflow.settings import settings


class InjectedFault(RuntimeError):
    """Raised on purpose by a test at a named point."""


def checkpoint(point: str) -> None:
    faults = settings()
    if faults.kill_at == point:
        os.kill(os.getpid(), signal.SIGKILL)
    if faults.fail_at == point:
        marker = faults.fail_marker
        if not marker.exists():
            marker.write_text(point, encoding="utf-8")
            raise InjectedFault(f"injected failure at {point}")
