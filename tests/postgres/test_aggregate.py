"""Tier aggregation (sums add up, upward report) and the responsibility audit."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.postgres.test_sink import AS_OF, chain  # noqa: F401 - the shared chain fixture
from tierflow.aggregate.tiers import ADDITIVE, aggregate
from tierflow.sink.verify import verify_feed

CHILD_TIER = {"township": "village", "district": "township", "city": "district"}


def rows(engine: sa.Engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


@pytest.mark.postgres
@pytest.mark.slow
def test_each_tier_is_the_sum_of_its_children_and_the_report_is_published(chain):  # noqa: F811
    engine, root = chain
    result = aggregate("agg-1", as_of=AS_OF, eng=engine)
    facts = rows(engine, "select * from thematic.tier_aggregate where run_id = 'agg-1'")
    assert {f["subject"] for f in facts} == set(ADDITIVE)
    values = {
        (f["subject"], f["tier"], f["division_code"], f["dimension"], f["measure"]): f["value"]
        for f in facts
    }
    children: dict[tuple, float] = defaultdict(float)
    for f in facts:
        if f["parent_code"] is not None:
            parent_tier = next(p for p, c in CHILD_TIER.items() if c == f["tier"])
            children[
                (f["subject"], parent_tier, f["parent_code"], f["dimension"], f["measure"])
            ] += f["value"]
    checked = 0
    for key, value in values.items():
        subject, tier, _code, _dim, measure = key
        if tier == "village" or measure not in ADDITIVE[subject]:
            continue
        if subject == "truck_gps" and tier == "district":
            continue  # GPS has no tier below the district
        assert children[key] == pytest.approx(value), key
        checked += 1
    assert checked > 100
    # the city's population is every alive person; the mean rating is sum / count
    alive = rows(
        engine,
        "select count(*) as n from library.person where status is distinct from 'deceased'"
        " and death_date is null and birth_date <= :d",
        d=AS_OF,
    )[0]["n"]
    city = sum(v for k, v in values.items() if k[0] == "population" and k[1] == "city")
    assert city == alive > 0
    for (subject, tier, code, _d, measure), value in values.items():
        if subject == "service_case" and measure == "mean_rating":
            total = values[(subject, tier, code, "", "rating_sum")]
            assert value == pytest.approx(total / values[(subject, tier, code, "", "rated")])
    vehicle_days = {
        k[2]: v for k, v in values.items() if k[0] == "truck_gps" and k[4] == "vehicle_days"
    }
    assert vehicle_days["500000"] == pytest.approx(
        sum(v for c, v in vehicle_days.items() if c != "500000")
    )
    # upward report: city and district tiers only, with its own manifest
    report = root / "reports" / "national" / "agg-1"
    assert result["report"]["path"] == str(report)
    assert verify_feed(report)["ok"]
    manifest = json.loads((report / "_manifest.json").read_text(encoding="utf-8"))
    assert manifest["tiers"] == ["city", "district"] and manifest["run_id"] == "agg-1"
    table = pq.read_table(report / manifest["files"][0]["path"])
    assert set(table.column("tier").to_pylist()) == {"city", "district"}
    assert table.num_rows == sum(1 for f in facts if f["tier"] in ("city", "district"))
    first = (report / manifest["files"][0]["path"]).read_bytes()
    aggregate("agg-1", as_of=AS_OF, eng=engine)  # idempotent per run id, same bytes
    assert (report / manifest["files"][0]["path"]).read_bytes() == first
    assert rows(engine, "select count(*) as n from thematic.tier_aggregate where run_id = 'agg-1'")[
        0
    ]["n"] == len(facts)


def _delivery(
    conn, dataset: str, department: str, started: dt.datetime, day: dt.date, rows_in=10, bad=0
):
    conn.execute(
        sa.text(
            "insert into quality.delivery (dataset, department, file_path, file_sha256, file_bytes,"
            " file_format, delivery_date, status, rows_in, rows_accepted, rows_quarantined, started_at)"
            " values (:ds, :dep, 'x', md5(random()::text), 1, 'csv', :day, 'loaded', :n, :ok, :bad, :at)"
        ),
        {
            "ds": dataset,
            "dep": department,
            "day": day,
            "n": rows_in,
            "ok": rows_in - bad,
            "bad": bad,
            "at": started,
        },
    )


@pytest.mark.postgres
@pytest.mark.slow
def test_audit_finds_late_and_missing_deliveries_and_raises_the_alert(chain):  # noqa: F811
    from tierflow.clock import SHANGHAI
    from tierflow.quality.audit import (
        LateDeliveries,
        audit_deliveries,
        audit_report,
        check_deliveries,
        late_delivery_callback,
        record_alert,
    )

    engine, _root = chain
    day = dt.date(2026, 4, 7)  # a Tuesday: only the daily datasets are due
    dated = day - dt.timedelta(days=1)  # a daily extract dated D is due on D + 1
    with engine.begin() as conn:
        _delivery(
            conn,
            "psb.household",
            "psb",
            dt.datetime(2026, 4, 7, 5, 0, tzinfo=SHANGHAI),
            dated,
            100,
            7,
        )
        _delivery(
            conn, "samr.enterprise", "samr", dt.datetime(2026, 4, 7, 9, 15, tzinfo=SHANGHAI), dated
        )
    result = audit_deliveries(
        day, day, now=dt.datetime(2026, 4, 8, 9, 0, tzinfo=SHANGHAI), eng=engine
    )
    status = {p["dataset"]: p["status"] for p in result["problems"]}
    assert "psb.household" not in status  # delivered 05:00, due 06:00
    assert status["samr.enterprise"] == "late"  # due 06:30, came 09:15
    assert status["gov.service_case"] == "missing"
    assert result["due"] == 6 and result["on_time"] == 1 and result["late"] == 1
    stored = rows(engine, "select * from quality.delivery_audit where period_end = :d", d=dated)
    assert len(stored) == 6
    late = next(r for r in stored if r["dataset"] == "samr.enterprise")
    assert late["late_seconds"] == 9 * 3600 + 15 * 60 - (6 * 3600 + 30 * 60)
    report = audit_report(days=3, end=day, eng=engine)
    psb = next(d for d in report["departments"] if d["department"] == "psb")
    assert psb["on_time"] == 1 and psb["quarantine_rate"] == pytest.approx(0.07)
    assert any(
        r["dataset"] == "psb.household" and r["rate"] == pytest.approx(0.07)
        for r in report["quarantine_rates"]
    )
    json.dumps(report)  # what `tierflow quality report --json` prints
    with pytest.raises(LateDeliveries, match="1 late, 4 missing"):
        check_deliveries(result)
    # the DAG's failure callback records the alert (tierflow's default engine)
    import os

    from tierflow import db

    os.environ["TIERFLOW_DATABASE_URL"], previous = (
        engine.url.render_as_string(hide_password=False),
        os.environ.get("TIERFLOW_DATABASE_URL"),
    )
    db.engine.cache_clear()
    try:

        class TI:
            dag_id, run_id, task_id = "audit__deliveries", "manual__1", "check_deliveries"

        late_delivery_callback({"ti": TI(), "exception": LateDeliveries("1 late")})
        record_alert("test", {"x": 1})
    finally:
        if previous is None:
            os.environ.pop("TIERFLOW_DATABASE_URL")
        else:
            os.environ["TIERFLOW_DATABASE_URL"] = previous
        db.engine.cache_clear()
    alerts = rows(engine, "select kind, detail from quality.audit_alert order by alert_id")
    assert (
        alerts[0]["kind"] == "late_deliveries"
        and alerts[0]["detail"]["dag_id"] == "audit__deliveries"
    )
