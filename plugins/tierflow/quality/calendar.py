"""The delivery calendar of the responsibility list (责任清单): one rule for every path.

A department owes each dataset daily, weekly (on a weekday) or monthly (on a day, the last
day of a shorter month) by ``due_time`` Asia/Shanghai. An extract is dated by its as-of day
(the ``<delivery-date>`` folder): a delivery dated D belongs to the **first due date after
D** — a daily extract of D is due on D + 1 — so a due date's period runs from the previous
due date to the day before it. It is on time when it arrives by the due instant plus the
grace (the ingest sensor polls, so an on-time file is seen a little after its due time).

The operations console, ``tierflow audit``, the audit DAG, the ingest schedules and their
Deadline Alerts all take their dates from here. Nothing heavy is imported: DAG files use it
at parse time.
"""

from __future__ import annotations

import calendar as _month
import datetime as dt
from dataclasses import dataclass

from tierflow.clock import SHANGHAI, TIMEZONE
from tierflow.contracts import Catalog, Dataset, Frequency, Responsibility
from tierflow.settings import settings


def grace() -> dt.timedelta:
    """How long after its due instant a delivery still counts as on time."""
    return dt.timedelta(minutes=settings().late_grace_minutes)


@dataclass(frozen=True)
class Due:
    """One delivery the responsibility list makes due."""

    dataset: str
    department: str
    frequency: str
    due_at: dt.datetime  # aware, Asia/Shanghai
    period_start: dt.date  # deliveries dated in [period_start, period_end] count for it
    period_end: dt.date


def _is_due_date(entry: Responsibility, day: dt.date) -> bool:
    if entry.frequency == Frequency.daily:
        return True
    if entry.frequency == Frequency.weekly:
        return day.weekday() == entry.due_weekday
    last = _month.monthrange(day.year, day.month)[1]
    return day.day == min(entry.due_day or 1, last)


def due_dates(entry: Responsibility, first: dt.date, last: dt.date) -> list[dt.date]:
    """Every due date of ``entry`` in [first, last]."""
    days = (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    return [d for d in days if _is_due_date(entry, d)]


def previous_due_date(entry: Responsibility, due: dt.date) -> dt.date:
    day = due - dt.timedelta(days=1)
    while not _is_due_date(entry, day):
        day -= dt.timedelta(days=1)
    return day


def due_date_for(entry: Responsibility, delivered_for: dt.date) -> dt.date:
    """The due date a delivery dated ``delivered_for`` counts for: the first one after it."""
    day = delivered_for + dt.timedelta(days=1)
    while not _is_due_date(entry, day):
        day += dt.timedelta(days=1)
    return day


def due_at(entry: Responsibility, day: dt.date) -> dt.datetime:
    hour, minute = (int(p) for p in entry.due_time.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI)


def expected_deliveries(cat: Catalog, start: dt.date, end: dt.date) -> list[Due]:
    """Every delivery whose due date lies in [start, end], in due order."""
    out = []
    for entry in cat.responsibility.responsibilities:
        for day in due_dates(entry, start, end):
            out.append(
                Due(
                    dataset=entry.dataset,
                    department=entry.department,
                    frequency=entry.frequency.value,
                    due_at=due_at(entry, day),
                    period_start=previous_due_date(entry, day),
                    period_end=day - dt.timedelta(days=1),
                )
            )
    return sorted(out, key=lambda d: (d.due_at, d.dataset))


def responsibility_for(cat: Catalog, dataset: Dataset) -> Responsibility | None:
    for entry in cat.responsibility.responsibilities:
        if entry.dataset == dataset.id:
            return entry
    return None


def ingest_cron(entry: Responsibility | None) -> str:
    """Cron (Asia/Shanghai) of the due instants: the ingest run starts waiting then."""
    if entry is None:
        return "0 6 * * *"
    hour, minute = (int(part) for part in entry.due_time.split(":"))
    if entry.frequency == Frequency.daily:
        return f"{minute} {hour} * * *"
    if entry.frequency == Frequency.weekly:
        cron_weekday = (entry.due_weekday + 1) % 7  # contract: Monday = 0; cron: Sunday = 0
        return f"{minute} {hour} * * {cron_weekday}"
    return f"{minute} {hour} {entry.due_day or 1} * *"  # the contract keeps due_day <= 28


__all__ = [
    "TIMEZONE",
    "Due",
    "due_at",
    "due_date_for",
    "due_dates",
    "expected_deliveries",
    "grace",
    "ingest_cron",
    "responsibility_for",
]
