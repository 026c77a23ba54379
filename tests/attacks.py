"""What a district with a login would try against what it receives (used by the attack tests).

``id_candidates`` counts the real-world ID numbers a partly shown one could be, given what
else the same consumer sees of that person (a birth date, its year, the gender): the
design's bar is that no masked identifier narrows to fewer than 1,000 candidates.
``rebuild_id`` is the concrete attack that broke the old pull view: division + birth date
+ last four.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa

from tierflow.identifiers import ID_CHECK_CHARS, ID_WEIGHTS

if TYPE_CHECKING:
    from collections.abc import Iterator

PARTIAL_ID = re.compile(r"^[0-9*]{17}[0-9X*]$")
_EPOCH = dt.date(1900, 1, 1)


def looks_partly_masked(value: object) -> bool:
    """An ID-shaped value with some characters starred out."""
    return isinstance(value, str) and "*" in value and bool(PARTIAL_ID.match(value))


def _dates(birth: dt.date | None, year: int | None, today: dt.date) -> np.ndarray:
    """Candidate birth dates as an array of YYYYMMDD digit rows (n, 8)."""
    if birth is not None:
        days = [birth]
    else:
        first = dt.date(year, 1, 1) if year else _EPOCH
        last = min(dt.date(year, 12, 31), today) if year else today
        days = [first + dt.timedelta(n) for n in range((last - first).days + 1)]
    text = "".join(d.strftime("%Y%m%d") for d in days).encode()
    return (np.frombuffer(text, dtype=np.uint8) - 48).reshape(len(days), 8).astype(np.int64)


def id_candidates(
    masked: str,
    *,
    birth: dt.date | None = None,
    birth_year: int | None = None,
    gender: str | None = None,
    today: dt.date | None = None,
) -> int:
    """How many valid ID numbers match ``masked`` and what else is known of its holder."""
    today = today or dt.date.today()
    dates = _dates(birth, birth_year, today)
    head = masked[:6]
    if "*" in head:
        raise ValueError("only masks that show the division are modelled")
    visible_date = masked[6:14]
    keep = np.ones(len(dates), dtype=bool)
    for i, ch in enumerate(visible_date):
        if ch != "*":
            keep &= dates[:, i] == int(ch)
    dates = dates[keep]
    seq = masked[14:17]
    seq_options = [range(10) if ch == "*" else [int(ch)] for ch in seq]
    combos = np.array(np.meshgrid(*seq_options, indexing="ij")).reshape(3, -1).T
    if gender in ("1", "2"):
        combos = combos[(combos[:, 2] % 2) == (1 if gender == "1" else 0)]
    if not len(dates) or not len(combos):
        return 0
    division = np.array([int(c) if c != "*" else 0 for c in head], dtype=np.int64)
    body = np.concatenate(
        [
            np.broadcast_to(division, (len(dates) * len(combos), 6)),
            np.repeat(dates, len(combos), axis=0),
            np.tile(combos, (len(dates), 1)),
        ],
        axis=1,
    )
    checks = np.array(list(ID_CHECK_CHARS))[(body @ ID_WEIGHTS) % 11]
    last = masked[17]
    matches = len(checks) if last == "*" else int((checks == last).sum())
    return matches


def rebuild_id(masked: str, birth: dt.date) -> str:
    """The attack on the old views: division + birth date + last four."""
    return masked[:6] + birth.strftime("%Y%m%d") + masked[-4:]


@contextmanager
def district_login(engine: sa.Engine, code: str) -> Iterator[sa.Connection]:
    """A login that may only become ``district_<code>``, connected and switched to it."""
    login = f"probe_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with engine.begin() as conn:
        conn.execute(sa.text(f"create role \"{login}\" login password '{password}'"))
        conn.execute(sa.text(f'grant district_{code} to "{login}"'))
    probe = sa.create_engine(engine.url.set(username=login, password=password))
    try:
        with probe.connect() as conn:
            conn.execute(sa.text(f"set role district_{code}"))
            yield conn
    finally:
        probe.dispose()
        with engine.begin() as conn:
            conn.execute(sa.text(f'drop owned by "{login}"'))
            conn.execute(sa.text(f'drop role "{login}"'))
