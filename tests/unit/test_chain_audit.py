"""The one-off chain (the demo) judges the due dates its deliveries count for, by the one calendar."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tierflow.chain import due_dates_delivered

pytestmark = pytest.mark.unit


def _delivered(dataset: str, day: str) -> tuple[str, Path]:
    department = dataset.split(".")[0]
    return dataset, Path(f"/landing/{department}/{dataset}/{day}/extract.csv")


def test_a_daily_extract_dated_d_is_judged_on_d_plus_one() -> None:
    assert due_dates_delivered([_delivered("psb.household", "2026-11-30")]) == (
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 1),
    )


def test_a_weekly_extract_is_judged_on_its_next_weekday_and_widens_the_window() -> None:
    # mnr.address is owed on Mondays: an extract dated Monday 2026-11-30 is due the next Monday
    window = due_dates_delivered(
        [_delivered("psb.household", "2026-11-30"), _delivered("mnr.address", "2026-11-30")]
    )
    assert window == (dt.date(2026, 12, 1), dt.date(2026, 12, 7))


def test_undated_deliveries_give_no_window() -> None:
    undated = ("psb.household", Path("/landing/psb/household/extract.csv"))
    assert due_dates_delivered([undated]) is None
