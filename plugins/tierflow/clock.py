"""The platform's clock: Asia/Shanghai, the one time zone every date of the bureau is in.

A timestamp without offset in a delivery is Shanghai time, a delivery date is a Shanghai
calendar day, and "today" is Shanghai's whatever the machine's zone. Every module takes the
zone from here.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

TIMEZONE = "Asia/Shanghai"
SHANGHAI = ZoneInfo(TIMEZONE)


def now() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)


def today() -> dt.date:
    """The platform's calendar day (Asia/Shanghai), whatever the machine's time zone."""
    return now().date()
