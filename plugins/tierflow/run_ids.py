"""Run ids: what a sink or aggregate run is called, on disk and in the feed ledger.

A run id names a folder (``feeds/<division>/<feed>/<run_id>/``) and orders runs, so it is
checked, not silently rewritten: letters, digits and ``._-`` (Airflow's own ``:`` and ``+``
become ``_``), at most 128 characters, not starting with a dot; and a run id that carries
a timestamp (ours, ``20261201T093000Z``, or Airflow's ISO one) may not lie in the future,
where it would sort after every real run.
"""

from __future__ import annotations

import datetime as dt
import re

from tierflow.errors import TierflowError

_ALLOWED = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._:+-]{0,127}$")
_OURS = re.compile(r"(\d{8}T\d{6})Z")
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})")
SKEW = dt.timedelta(minutes=5)  # clocks of the scheduler's hosts may differ a little


class BadRunId(TierflowError):
    """A run id that is malformed or names a time in the future."""


def default_run_id(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


def _stamp(run_id: str) -> dt.datetime | None:
    for pattern, layout in ((_OURS, "%Y%m%dT%H%M%S"), (_ISO, "%Y-%m-%dT%H:%M:%S")):
        match = pattern.search(run_id)
        if match:
            try:
                return dt.datetime.strptime(match.group(1), layout).replace(tzinfo=dt.UTC)
            except ValueError as exc:
                raise BadRunId(f"run id {run_id!r} holds an impossible time") from exc
    return None


def safe_run_id(run_id: str, now: dt.datetime | None = None) -> str:
    """``run_id`` checked and made usable as a folder name; one-line error otherwise."""
    if not _ALLOWED.match(run_id) or ".." in run_id:
        raise BadRunId(f"run id {run_id!r} is malformed: use letters, digits and ._- (at most 128)")
    stamp = _stamp(run_id)
    if stamp is not None and stamp > (now or dt.datetime.now(dt.UTC)) + SKEW:
        raise BadRunId(f"run id {run_id!r} names a time in the future")
    return re.sub(r"[:+]", "_", run_id)
