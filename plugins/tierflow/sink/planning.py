"""Statement planning: which COPY statements read a run's feeds, from a cost model.

Windows whose feeds need the same SQL share one statement (a few per source, not one per
district and feed). The model is the planner's size of each source (``pg_class``: no
scan), spread evenly over the divisions: a small group is one statement; a big one is
split so the run's workers share it: a big group of first feeds by ranges of the source's
pages (each statement reads its own part for every district of the group, so the source
is read once), other big groups by districts. Smallest statements first, so districts
complete and publish while the big statements still run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierflow.contracts import catalog
from tierflow.masking import consumer_key
from tierflow.settings import settings
from tierflow.sink.sql import statement
from tierflow.sink.statements import PageRange, Window, batch_signature

if TYPE_CHECKING:
    import sqlalchemy as sa

    from tierflow.sink.ledger import FeedJob
    from tierflow.sink.sources import FeedSource

PARALLEL_ABOVE_ROWS = 200_000  # below this, one statement beats several scans of the source


@dataclass(frozen=True)
class Statement:
    """One COPY: windows sharing its SQL, over all the source's pages or a range of them."""

    windows: list[Window]
    rows: float  # the planner's estimate, to run small statements first
    pages: PageRange | None = None


@dataclass(frozen=True)
class SourceSize:
    rows: float  # pg_class.reltuples: the planner's estimate, no scan
    pages: int  # in the run's snapshot: every row the statements can see lies below


def source_sizes(conn: sa.Connection, sources: dict[str, FeedSource]) -> dict[str, SourceSize]:
    """Each source's size by its table: the rows of every table its versions are read from,
    and the pages of the largest (a range of pages applies to each of them)."""
    sizes = {}
    for name, source in sources.items():
        rows, pages = 0.0, 0
        for table in source.version_tables:
            row = conn.execute(statement("source_size.sql"), {"t": table}).first()
            if row:
                rows, pages = rows + float(row[0]), max(pages, int(row[1]))
        sizes[name] = SourceSize(rows, pages)
    return sizes


def page_ranges(pages: int, parts: int) -> list[PageRange]:
    """``parts`` ranges covering the source; the last one open-ended."""
    bounds = [pages * i // parts for i in range(parts)]
    return [
        (bounds[i], bounds[i + 1] if i + 1 < parts else None)
        for i in range(parts)
        if i + 1 == parts or bounds[i] < bounds[i + 1]
    ]


def plan_statements(
    jobs: list[FeedJob], secret: bytes | None, workers: int, sizes: dict[str, SourceSize]
) -> list[Statement]:
    """Statements to run: windows grouped by SQL, big groups split so ``workers`` share them.

    A group is split into about one statement per ``sink_rows_per_statement`` estimated
    rows, and, above PARALLEL_ABOVE_ROWS, into at least ``sink_statements_per_worker``
    statements per worker.
    """
    groups: dict[tuple, list[Window]] = {}
    for job in jobs:
        assert job.window is not None
        key = None
        if job.plan.pseudonymised and secret:
            key = consumer_key(secret, job.plan.consumer_id)
        window = Window(job.plan, job.window[0], job.window[1], key)
        groups.setdefault(batch_signature(window), []).append(window)
    divisions = max(1, len(catalog().divisions.divisions))
    statements: list[Statement] = []
    for group in groups.values():
        size = sizes.get(group[0].plan.source.table, SourceSize(0.0, 0))
        per_district = size.rows / divisions
        total = per_district * len(group)
        parts = max(1, -(-int(total) // settings().sink_rows_per_statement))
        if total >= PARALLEL_ABOVE_ROWS:
            # two statements per worker: while the second runs, the first's districts publish
            parts = max(parts, settings().sink_statements_per_worker * workers)
        first_feeds = all(w.watermark_from is None for w in group)
        if parts > 1 and first_feeds and size.pages > 1:
            ranges = page_ranges(size.pages, min(parts, size.pages))
            statements += [Statement(group, total / len(ranges), r) for r in ranges]
            continue
        parts = min(parts, len(group))
        step = -(-len(group) // parts)
        statements += [
            Statement(group[i : i + step], per_district * len(group[i : i + step]))
            for i in range(0, len(group), step)
        ]
    return sorted(statements, key=lambda s: s.rows)
