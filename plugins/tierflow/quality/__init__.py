"""Delivery truth in one home: the calendar of what is due, the audit of what arrived, the
quality report.

- ``calendar``: which period a delivery dated D belongs to, when it is due, the grace, and
  the ingest schedules (light: DAG files import it at parse time);
- ``audit``: every due delivery judged against ``quality.delivery`` by one statement
  (``sql/quality/delivery_outcomes.sql``), for the console, ``tierflow audit`` and the audit DAG;
- ``report``: what each delivery brought and how each expectation fared.
"""

from __future__ import annotations

from typing import Any


def report(*args: Any, **kwargs: Any) -> dict[str, Any]:
    from tierflow.quality.report import report as run_report

    return run_report(*args, **kwargs)


def render_report(result: dict[str, Any]) -> str:
    from tierflow.quality.report import render_report as run_render

    return run_render(result)


__all__ = ["render_report", "report"]
