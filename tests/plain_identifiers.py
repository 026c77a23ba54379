"""A plain-Python reading of design §4 for the tests, independent of ``tierflow.identifiers``.

One value at a time, with ``datetime.date`` for the calendar and the standards' tables
written out again: the vectorised code is compared against this, and this against the
design's text (tests/unit/test_identifiers.py).
"""

from __future__ import annotations

import datetime as dt

PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
PROVINCES |= {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def _division(code: str) -> set[str]:
    found = set()
    if int(code[:2]) not in PROVINCES:
        found.add("province_unknown")
    if code.startswith("5099"):
        found.add("internal_zone_code")
    return found


def citizen_id_faults(value: str, today: dt.date) -> set[str]:
    if len(value) != 18 or not value[:17].isdigit() or not value[:17].isascii():
        return {"format"}
    if value[17] not in "0123456789X":
        return {"format"}
    found = _division(value[:6])
    total = sum(int(c) * w for c, w in zip(value[:17], ID_WEIGHTS, strict=True))
    if "10X98765432"[total % 11] != value[17]:
        found.add("check_char")
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        found.add("date_not_calendar")
    else:
        if born < dt.date(1900, 1, 1):
            found.add("date_before_1900")
        if born > today:
            found.add("date_in_future")
    return found


def uscc_faults(value: str) -> set[str]:
    if len(value) != 18 or any(c not in USCC_CHARS for c in value) or not value[2:8].isdigit():
        return {"format"}
    found = _division(value[2:8])
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(value[:17], USCC_WEIGHTS, strict=True))
    if USCC_CHARS[(31 - total % 31) % 31] != value[17]:
        found.add("check_char")
    org = [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in value[8:16]]
    check = 11 - sum(v * w for v, w in zip(org, ORG_WEIGHTS, strict=True)) % 11
    if {10: "X", 11: "0"}.get(check, str(check)) != value[16]:
        found.add("org_check_char")
    return found
