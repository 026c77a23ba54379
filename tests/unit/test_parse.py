"""Date and timestamp parsing against Python's own calendar, on edge cases and random values.

The ingest checks dates with integer arithmetic on their digits (tierflow.ingest.parse); this
test holds it to ``datetime``: the same values must parse, to the same instants.
"""

from __future__ import annotations

import datetime as dt
import random
import re

import pyarrow as pa
import pytest

from tierflow.ingest.parse import (
    _DATE_PATTERNS,
    _TIMESTAMP,
    MAX_YEAR,
    MIN_YEAR,
    SHANGHAI_OFFSET_MINUTES,
    _parse_date,
    _parse_timestamp,
)

pytestmark = pytest.mark.unit

YEARS = ["0000", "1799", "1800", "1900", "1970", "2000", "2023", "2024", "2100", "2999", "3000"]


def _two(low: int, high: int) -> str:
    return f"{random.randint(low, high):02d}"


def reference_date(text: str) -> dt.date | None:
    for pattern in _DATE_PATTERNS:
        found = re.fullmatch(pattern.replace("(?P<", "(?P<"), text)
        if found:
            try:
                value = dt.date(int(found["y"]), int(found["m"]), int(found["d"]))
            except ValueError:
                return None
            return value if MIN_YEAR <= value.year <= MAX_YEAR else None
    return None


def reference_timestamp(text: str) -> dt.datetime | None:
    found = re.fullmatch(_TIMESTAMP, text)
    if not found:
        return None
    year, month, day = (int(p) for p in found["date"].split("-"))
    hour, minute = (int(p) for p in found["hm"].split(":"))
    second = int(found["sec"][1:]) if found["sec"] else 0
    micro = int((found["frac"][1:] + "000000")[:6]) if found["frac"] else 0
    try:
        wall = dt.datetime(year, month, day, hour, minute, second, micro)
    except ValueError:
        return None
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    tz = found["tz"]
    if not tz:
        offset = SHANGHAI_OFFSET_MINUTES
    elif tz == "Z":
        offset = 0
    else:
        digits = tz[1:].replace(":", "")
        offset = (int(digits[:2]) * 60 + int(digits[2:4])) * (-1 if tz[0] == "-" else 1)
    return (wall - dt.timedelta(minutes=offset)).replace(tzinfo=dt.UTC)


def date_texts(count: int) -> list[str]:
    random.seed(7)
    fixed = ["2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "2026-04-31", "2026-12-31",
             "2026/03/01", "20260301", "20261301", "2026-1-05", "2026-01-5", "2026.03.01",
             "1800-01-01", "1799-12-31", "2999-12-31", "3000-01-01", "0000-01-01", "2026-03-01 ",
             "abcd-ef-gh", "2026-03-01T00:00", "202603011", "2026/03-01"]  # fmt: skip
    out = list(fixed)
    for _ in range(count):
        sep = random.choice(["-", "/", ""])
        out.append(f"{random.choice(YEARS)}{sep}{_two(0, 13)}{sep}{_two(0, 32)}")
    return out


def timestamp_texts(count: int) -> list[str]:
    random.seed(11)
    fixed = ["2026-03-01T08:00:00", "2026-03-01 08:00", "2026-03-01T23:59:59.999999Z",
             "2026-03-01T24:00:00", "2026-03-01T12:60:00", "2026-03-01T12:00:60",
             "2024-02-29T00:00:00+08:00", "2023-02-29T00:00:00", "1800-01-01T00:00:00Z",
             "1800-01-01T07:59:59", "2026-03-01T00:00:00-05:30", "2026-03-01T00:00:00+0545",
             "2026-03-01T00:00:00.5", "2026-03-01", "2026-03-01T00:00:00+8", "garbage"]  # fmt: skip
    out = list(fixed)
    for _ in range(count):
        text = f"{random.choice(YEARS)}-{_two(0, 13)}-{_two(0, 32)}"
        text += random.choice(["T", " "]) + f"{_two(0, 24)}:{_two(0, 60)}"
        if random.random() < 0.8:
            text += f":{_two(0, 60)}"
            if random.random() < 0.3:
                text += "." + str(random.randint(0, 999999)).zfill(random.randint(1, 6))[:6]
        zone = random.random()
        if zone < 0.3:
            text += "Z"
        elif zone < 0.6:
            text += random.choice(["+", "-"]) + _two(0, 14) + random.choice([":", ""]) + _two(0, 59)
        out.append(text)
    return out


def test_dates_parse_exactly_as_the_calendar_says():
    texts = date_texts(20_000)
    parsed, failed = _parse_date(pa.array(texts + [None], pa.string()))
    expected = [reference_date(t) for t in texts] + [None]
    assert parsed.to_pylist() == expected
    assert failed.tolist() == [e is None for e in expected[:-1]] + [False]  # null is not a failure
    assert sum(e is not None for e in expected) > 5_000  # the sample holds many valid dates


def test_timestamps_parse_to_the_same_instants_as_datetime():
    texts = timestamp_texts(20_000)
    parsed, failed = _parse_timestamp(pa.array(texts + [None], pa.string()))
    expected = [reference_timestamp(t) for t in texts] + [None]
    got = parsed.to_pylist()
    mismatches = [(t, g, e) for t, g, e in zip(texts, got, expected, strict=False) if g != e]
    assert mismatches == []
    assert got[-1] is None
    assert failed.tolist() == [e is None for e in expected[:-1]] + [False]
    assert sum(e is not None for e in expected) > 3_000
