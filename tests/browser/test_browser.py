"""The operations console in a real browser: log into the Airflow UI, open the DAG list and the
"Data quality & deliveries" page, and check the warehouse's figures are on screen.

Headless Chromium from Debian (``apt-get install -y chromium``), driven by Playwright for Python
with that system browser; Playwright never downloads a browser here. Screenshots go to the
test's tmp dir; failure messages name it.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.stack import STACK, stack  # noqa: F401 - the local stack fixture

if TYPE_CHECKING:
    from collections.abc import Iterator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DATASET = "samr.enterprise"

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.airflow, pytest.mark.postgres]


@pytest.fixture()
def browser_page(tmp_path: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


def _seed_warehouse(home: Path) -> list[dict[str, Any]]:
    """Two real deliveries of samr.enterprise, ingested the way the DAG's task does."""
    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file

    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    results = []
    for days_ago, defect_rate in ((1, 0.10), (2, 0.25)):
        out = home.parent / f"gen{days_ago}"
        generate(
            out=out,
            scale=1500,
            seed=days_ago,
            defect_rate=defect_rate,
            as_of=today - dt.timedelta(days=days_ago),
            datasets=[DATASET],
        )
        (path,) = [p for p in (out / "landing").rglob("*") if p.is_file() and p.suffix != ".ready"]
        results.append(ingest_file(path, DATASET, run_gx=False))
    return results


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_login_dag_list_and_plugin_page(stack, warehouse, browser_page, tmp_path, monkeypatch):  # noqa: F811
    import os

    monkeypatch.setenv("TIERFLOW_HOME", str(stack["home"]))  # ingest where the stack reads
    _seed_warehouse(stack["home"])
    # the figure the page must show: the newest delivery day's pass rate, straight from SQL
    # (other tests of the session may have delivered samr.enterprise for that day too)
    with warehouse.connect() as conn:
        days = conn.execute(
            sa.text(
                "select delivery_date, sum(rows_accepted)::float / sum(rows_in)"
                " from quality.delivery where dataset = :d and status = 'loaded'"
                " and delivery_date >= current_date - 14 group by delivery_date order by 1"
            ),
            {"d": DATASET},
        ).all()
    rate = days[-1][1]
    page, base = browser_page, stack["base"]
    shots: list[Path] = []

    # 1. the UI sends an anonymous visitor to the login page; log in as the stack's admin
    page.goto(base + "/")
    page.wait_for_url(re.compile(r".*/auth/login.*"))
    page.locator("input[name='username']").fill("ops")
    page.locator("input[name='password']").fill("ops-password")
    shots.append(_shot(page, tmp_path, "01-login"))
    page.locator("button[type='submit']").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)

    # 2. the DAG list shows the generated ingest DAGs
    page.goto(base + "/dags")
    page.get_by_text("ingest__samr_enterprise").first.wait_for()
    shots.append(_shot(page, tmp_path, "02-dag-list"))
    where = f"screenshots in {tmp_path}"
    assert page.get_by_text("ingest__psb_household").count() >= 1, where

    # 3. the plugin page, inside Airflow's frame, with the delivery's real pass rate
    page.goto(base + "/plugin/tierflow-quality")
    frame = page.frame_locator("iframe").first
    card = frame.locator(f"[data-dataset='{DATASET}']")
    card.locator("svg.chart").wait_for()
    figure = card.locator("[data-pass-rate]")
    page.wait_for_timeout(500)  # let the charts paint before the screenshot
    shots.append(_shot(page, tmp_path, "03-plugin-page"))
    assert float(figure.get_attribute("data-pass-rate")) == pytest.approx(rate, abs=1e-6), where
    assert figure.inner_text() == f"{rate * 100:.2f}%", where
    assert card.locator("circle.point").count() == len(days) >= 2, where
    assert frame.locator("#department-table [data-department='samr']").count() == 1, where

    # 4. the page alone (what the frame shows), full length
    page.goto(base + "/tierflow/")
    page.locator("svg.chart").first.wait_for()
    shots.append(_shot(page, tmp_path, "04-plugin-standalone"))
    assert page.locator(f"[data-dataset='{DATASET}'] [data-pass-rate]").inner_text() == (
        f"{rate * 100:.2f}%"
    ), where
    for shot in shots:
        assert shot.stat().st_size > 10_000, f"{shot} looks blank"
    print("screenshots:", ", ".join(str(s) for s in shots))
    keep = os.environ.get("TIERFLOW_SCREENSHOTS_DIR")
    if keep:  # CI can collect them as artifacts
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copy(shot, keep)
    assert (
        subprocess.run([str(STACK), "status"], env=stack["env"], capture_output=True).returncode
        == 0
    )


def test_an_approver_answers_a_demand_under_required_actions(stack, browser_page, tmp_path):  # noqa: F811
    """A district's demand, filed with the CLI, waits in Airflow's "Required Actions"; the
    approver logs in, opens it, approves it with a reason, and finds it approved, by them and
    with that reason, on the console's lists page (expiring within 30 days: valid 20)."""
    from tests.review_flow import (
        RUN_TIMEOUT,
        file_only_pending_demand,
        review_request,
        review_state,
        start_review,
        tierflow,
        wait,
    )
    from tests.stack import Api

    api, logs = Api(stack["base"]), stack["logs"]
    api.login("ops", "ops-password")
    demand_id = file_only_pending_demand(
        stack,
        consumer="d500106",
        dataset="mnr.land_parcel",
        fields="parcel_id,area_m2,division_code",
        purpose="违法用地巡查",
        valid_days="20",
        by="沙坪坝区 赵六",
    )
    start_review(api, stack)
    hitl = review_request(api, stack, demand_id)
    page, base = browser_page, stack["base"]
    where = f"screenshots in {tmp_path}; stack logs {logs}"
    shots: list[Path] = []

    page.goto(base + "/")
    page.wait_for_url(re.compile(r".*/auth/login.*"))
    page.locator("input[name='username']").fill("ops")
    page.locator("input[name='password']").fill("ops-password")
    page.locator("button[type='submit']").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)

    # 1. Browse → Required Actions lists the request by its subject; it opens the task's form
    page.goto(base + "/required_actions?response_received=false")
    link = page.get_by_role("link", name=hitl["subject"])
    link.wait_for()
    shots.append(_shot(page, tmp_path, "10-required-actions"))
    link.click()
    page.locator("#element_reason").wait_for()
    assert page.get_by_text("违法用地巡查").count() >= 1, where  # the purpose is in the body
    page.locator("#element_reason").fill("同意：巡查期二十天")
    shots.append(_shot(page, tmp_path, "11-review-form"))
    page.get_by_test_id("hitl-option-Approve").click()

    # 2. the answer resumes the task; the run records the decision
    state = wait(lambda: review_state(api, demand_id), RUN_TIMEOUT, "the review run", logs)
    assert state == "success", where
    shown = tierflow(stack, "demands", "show", demand_id)["demand"]
    assert (shown["status"], shown["decided_by"], shown["reason"]) == (
        "approved",
        "ops",
        "同意：巡查期二十天",
    ), shown

    # 3. the console's lists page shows it approved, by whom and why, and expiring
    page.goto(base + "/plugin/tierflow-quality")
    frame = page.frame_locator("iframe").first
    frame.locator("nav a", has_text="Lists").click()
    row = frame.locator(f"table.demands tr[data-demand='{demand_id}']")
    row.wait_for()
    shots.append(_shot(page, tmp_path, "12-lists-page"))
    assert row.get_attribute("data-status") == "approved", where
    assert row.locator(".decided-by").inner_text() == "ops", where
    assert row.locator(".reason").inner_text() == "同意：巡查期二十天", where
    assert row.locator(".requested-by").inner_text().startswith("沙坪坝区 赵六"), where
    expiring = frame.locator(f"#expiring-table tr[data-demand='{demand_id}'] [data-days-left]")
    assert expiring.inner_text() == "20", where
    for shot in shots:
        assert shot.stat().st_size > 10_000, f"{shot} looks blank"
    print("screenshots:", ", ".join(str(s) for s in shots))
