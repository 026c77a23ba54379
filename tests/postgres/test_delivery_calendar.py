"""One delivery calendar: the console and `tierflow audit` judge the same deliveries alike."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from tierflow.clock import SHANGHAI
from tierflow.contracts import catalog

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture()
def audit_warehouse(warehouse_url, monkeypatch) -> Iterator[sa.Engine]:
    from tests.conftest import migrated_database

    with migrated_database("tierflow_calendar") as eng:
        monkeypatch.setattr("tierflow.quality.audit.default_engine", lambda: eng)
        yield eng


def _deliver(conn, dataset: str, dated: dt.date, arrived: dt.datetime, status="loaded") -> None:
    department = dataset.split(".")[0]
    conn.execute(
        sa.text(
            "insert into quality.delivery (dataset, department, file_path, file_sha256, file_bytes,"
            " file_format, delivery_date, status, rows_in, rows_accepted, rows_quarantined,"
            " started_at, error)"
            " values (:ds, :dep, 'x', md5(random()::text), 1, 'csv', :day, :st,"
            " 10, :ok, 0, :at, :err)"
        ),
        {
            "ds": dataset,
            "dep": department,
            "day": dated,
            "st": status,
            "ok": 10 if status == "loaded" else 0,
            "at": arrived,
            "err": "0-byte file" if status == "rejected" else None,
        },
    )


@pytest.mark.postgres
def test_the_console_and_the_audit_command_agree_on_every_due_delivery(audit_warehouse, capsys):
    from tierflow.cli import main
    from tierflow.ui.pages import overview_context

    eng = audit_warehouse
    now = dt.datetime.now(SHANGHAI)
    today = now.date()
    day = lambda n: today - dt.timedelta(days=n)  # noqa: E731
    at = lambda n, h, m=0: dt.datetime.combine(day(n), dt.time(h, m), tzinfo=SHANGHAI)  # noqa: E731
    with eng.begin() as conn:
        # psb.household is due daily at 06:00 for the extract dated the day before
        _deliver(conn, "psb.household", day(4), at(3, 5, 0))  # on time
        _deliver(conn, "psb.household", day(3), at(2, 6, 20))  # within the grace: on time
        _deliver(conn, "psb.household", day(2), at(1, 9, 0))  # late
        _deliver(conn, "psb.household", day(1), at(1, 5, 0), status="rejected")  # rejected
        # samr.enterprise: one on time, the rest missing
        _deliver(conn, "samr.enterprise", day(3), at(2, 6, 0))
    console = json.loads(json.dumps(overview_context(eng, catalog(), days=3)["audit"], default=str))
    assert main(["audit", "--start", day(3).isoformat(), "--end", today.isoformat(), "--json"]) == 0
    command = json.loads(capsys.readouterr().out)

    def by_due(outcomes):
        return {
            (o["dataset"], dt.datetime.fromisoformat(str(o["due_at"])).astimezone(SHANGHAI)): o[
                "status"
            ]
            for o in outcomes
        }

    seen_by_console, seen_by_command = by_due(console["outcomes"]), by_due(command["outcomes"])
    assert seen_by_console == seen_by_command and len(seen_by_console) > 10
    household = {
        due.date(): status for (ds, due), status in seen_by_console.items() if ds == "psb.household"
    }
    assert household[day(2)] == "on_time" and household[day(1)] == "late"
    assert household[day(3)] == "on_time"
    if now.time() >= dt.time(6, 0):
        assert household[today] == "rejected"
    samr = {due.date(): s for (ds, due), s in seen_by_console.items() if ds == "samr.enterprise"}
    assert samr[day(2)] == "on_time" and samr[day(3)] == "missing"
    # the stored audit says the same
    with eng.connect() as conn:
        stored = {
            (r.dataset, r.due_at.astimezone(SHANGHAI)): r.status
            for r in conn.execute(
                sa.text("select dataset, due_at, status from quality.delivery_audit")
            )
        }
    assert stored == seen_by_command
