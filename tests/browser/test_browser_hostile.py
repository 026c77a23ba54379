"""The operations console under attack: hostile deliveries, then every page in a real browser.

Every dataset of the catalog gets a delivery whose every column holds, row by row, script tags,
event handlers, SVG onload, ``javascript:`` URLs, markup that breaks out of its cell, template
syntax, remote images and stylesheets, a meta refresh and very long strings; the files carry
hostile names as far as the landing layout allows (no ``/``), and one is rejected for its name.
All of it is ingested with GX, so the Data Docs are built from it. Then an operator logs into
the Airflow UI (the api-server of deploy/local/stack.sh) and opens every console page and every
Data Docs page. The test fails if any script of a payload runs (the ``window.__x`` sentinel, a
dialog, a blocked ``alert``), if any payload element is in a DOM, or if any request leaves
127.0.0.1 (each is intercepted, logged and aborted). The validation tables must still render,
styled and with their rows, from the plugin's own assets.

Level-3+ columns' failing values never reach a page (``masking.docs_sample_treatment``); the
level-1/2 ones are shown as text. Each payload names its column, so the test can tell which.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import urllib.error
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.test_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.stack import Api, running_stack

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.airflow, pytest.mark.postgres]

SH = ZoneInfo("Asia/Shanghai")
OUTSIDE = "tierflow-hostile.invalid"  # a payload's remote URL: any request to it is a failure
# "{t}" is replaced by "~<dataset id>:<column>~", so a value seen on a page names its column.
PAYLOADS = {
    "script": "<script data-pwn>window.__x='{t}';alert('{t}')</script>",
    "img-onerror": '"><img data-pwn src=x onerror="window.__x=\'{t}\';alert(1)">',
    "svg-onload": "'><svg data-pwn onload=\"window.__x='{t}'\"><circle r=9></circle></svg>",
    "javascript-url": "<a data-pwn href=\"javascript:window.__x='{t}'\">{t}</a>",
    "iframe": "<iframe data-pwn srcdoc=\"<script>parent.__x='{t}'</script>\"></iframe>",
    "breakout": "</div></td></tr></table></script></style><img data-pwn src=x onerror=__x=1>{t}",
    "template": "{{7*7}} ${7*7} #{7*7} {{constructor.constructor('window.__x=1')()}} {t}",
    "remote": f"<img data-pwn src=//{OUTSIDE}/i.png><link data-pwn rel=stylesheet "
    f"href=//{OUTSIDE}/s.css>{{t}}",
    "style": f"<style data-pwn>@import '//{OUTSIDE}/s.css';</style>{{t}}",
    "meta-refresh": f'<meta data-pwn http-equiv="refresh" content="0;url=//{OUTSIDE}/">{{t}}',
    "long": "{t}<b data-pwn>" + "长" * 4000 + "</b><img data-pwn src=x onerror=__x=1>",
}
# hostile file names: anything but "/" and NUL fits a landing folder
LOADED_NAME = '"><img data-pwn src=x onerror=alert(1)>{{7*7}}${7*7} <svg data-pwn onload=alert(2)>'
REJECTED_NAME = "<img data-pwn src=x onerror=alert(3)>'\"`${7*7}.exe"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _tag(dataset_id: str, column: str) -> str:
    return f"~{dataset_id}:{column}~"


def _hostile_rows(dataset: Any) -> list[dict[str, str]]:
    from tests.unit.test_suites import GOOD_ROWS

    good = {k: _text(v) for k, v in GOOD_ROWS[dataset.id].items()}
    rows = [good]
    for column in dataset.columns:
        tag = _tag(dataset.id, column.name)
        rows += [good | {column.name: p.replace("{t}", tag)} for p in PAYLOADS.values()]
    return rows


def _write_delivery(landing: Path, dataset: Any, as_of: dt.date, name: str) -> Path:
    department, folder = dataset.id.split(".", 1)
    path = landing / department / folder / as_of.isoformat() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = _hostile_rows(dataset)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[c.name for c in dataset.columns])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _hostile_lists(eng: Any) -> dict[str, str]:
    """The online lists with people's texts that are payloads: a demand's purpose, who asked,
    who decided and why, a legal basis, a removal's reason. What each field holds."""
    from tierflow.sharing import store

    texts = {
        "purpose": PAYLOADS["script"],
        "requested_by": PAYLOADS["img-onerror"],
        "decided_by": PAYLOADS["template"],
        "reason": PAYLOADS["svg-onload"],
        "legal_basis": PAYLOADS["breakout"],
        "removal": PAYLOADS["javascript-url"],
    }
    texts = {k: v.replace("{t}", _tag("lists", k)) for k, v in texts.items()}
    store.import_lists(eng)
    demand = store.request_demand(
        eng,
        consumer="d500101",
        dataset="mnr.land_parcel",
        fields=["parcel_id", "division_code"],
        purpose=texts["purpose"],
        valid_days=20,  # expiring within 30 days: on that table too
        by=texts["requested_by"],
    )
    store.decide_demand(
        eng, demand["id"], approve=True, by=texts["decided_by"], reason=texts["reason"]
    )
    store.add_negative(
        eng, "mnr.land_parcel", "area_m2", legal_basis=texts["legal_basis"], by=texts["decided_by"]
    )
    store.remove_negative(
        eng,
        "mnr.land_parcel",
        "area_m2",
        by=texts["requested_by"],
        reason=texts["removal"],
        approve=False,
    )
    return texts


@pytest.fixture()
def hostile_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The api-server alone, on a warehouse of its own holding only the hostile deliveries."""
    from tests.conftest import create_database, drop_database
    from tierflow.contracts import catalog
    from tierflow.ingest.pipeline import ingest_file
    from tierflow.ingest.readers import DeliveryRejected

    name, eng = create_database("tierflow_hostile")
    url = eng.url.render_as_string(hide_password=False)
    try:
        with running_stack(url, tmp_path, services="api-server") as stack:
            home = stack["home"]
            monkeypatch.setenv("TIERFLOW_HOME", str(home))  # ingest where the api-server reads
            today = dt.datetime.now(SH).date()
            landing = home / "landing"
            results = []
            for ds in catalog().datasets:
                # as of two days ago: due yesterday, so the console lists it as late, by name
                file_name = LOADED_NAME if ds.id == "psb.household" else ds.id + "<b data-pwn>"
                path = _write_delivery(
                    landing, ds, today - dt.timedelta(days=2), file_name + ".csv"
                )
                results.append(ingest_file(path, ds.id, eng=eng, run_gx=True))
            # their GX reports: the step after the load writes the Data Docs the console serves
            from tierflow.ingest.gx import validate_deliveries

            validate_deliveries([r["delivery_id"] for r in results], eng=eng)
            household = catalog().dataset("psb.household")
            rejected = _write_delivery(
                landing, household, today - dt.timedelta(days=3), REJECTED_NAME
            )
            with pytest.raises(DeliveryRejected):
                ingest_file(rejected, household.id, eng=eng, run_gx=True)
            lists = _hostile_lists(eng)
            yield {**stack, "engine": eng, "results": results, "today": today, "lists": lists}
    finally:
        eng.dispose()
        drop_database(name)


# What the page holds that a payload would have put there, in every frame.
PROBE = """() => {
  const found = [];
  try { if (window.__x !== undefined) found.push('window.__x=' + String(window.__x)); } catch (e) {}
  for (const el of document.querySelectorAll('[data-pwn], img[src="x"], iframe[srcdoc]')) {
    found.push('element ' + el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase(), value = attr.value.toLowerCase();
      const scripted = value.includes('__x') || value.includes('alert(');
      if (scripted && (name.startsWith('on') || value.startsWith('javascript:'))) {
        found.push('attribute ' + name + '=' + attr.value.slice(0, 80));
      }
    }
  }
  return found;
}"""


class Watch:
    """Everything a page did that it must not: requests leaving 127.0.0.1, dialogs, blocked
    alerts and CSP violations, payload traces in its frames."""

    def __init__(self, context: Any) -> None:
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        host = urllib.parse.urlsplit(url).hostname
        if host != "127.0.0.1":
            self.blocked.append(url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def attach(self, page: Any) -> None:
        page.on("dialog", lambda d: (self.dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        text = message.text
        if "Ignored call to 'alert()'" in text or "Content Security Policy" in text:
            self.console.append(text[:300])

    @staticmethod
    def traces(page: Any) -> list[str]:
        found = []
        for frame in page.frames:
            found += [f"{frame.url[:100]}: {t}" for t in frame.evaluate(PROBE)]
        return found


def settle(page: Any) -> None:
    """The page loaded (images, failing ones too: their onerror has run by then), and a moment
    for timers and the document-ready scripts. Not networkidle: a busy machine keeps a font or
    cached request "in flight" for a minute."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[tuple[Any, Watch]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_FLAGS, "--disable-sync"]
        )
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        watch = Watch(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        watch.attach(page)
        try:
            yield page, watch
        finally:
            context.close()
            browser.close()


def test_the_probe_sees_an_unescaped_payload(browser):
    """Control: the checks below would catch a payload that was rendered as markup."""
    page, watch = browser
    page.set_content(PAYLOADS["img-onerror"].replace("{t}", "control") + PAYLOADS["javascript-url"])
    page.wait_for_function("window.__x !== undefined")
    traces = Watch.traces(page)
    assert any("window.__x=control" in t for t in traces), traces
    assert any("element <img" in t for t in traces) and any("javascript:" in t for t in traces)


def test_hostile_deliveries_cannot_script_the_console(hostile_console, browser, tmp_path):
    from tierflow.contracts import catalog
    from tierflow.masking import docs_sample_treatment

    page, watch = browser
    base, home = hostile_console["base"], hostile_console["home"]
    where = f"screenshots in {tmp_path}; stack logs {hostile_console['logs']}"
    page.goto(base + "/")
    page.wait_for_url(lambda url: "/auth/login" in url)
    page.locator("input[name='username']").fill("ops")
    page.locator("input[name='password']").fill("ops-password")
    page.locator("button[type='submit']").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)

    console = [
        "/tierflow/",
        "/tierflow/?days=60",
        *(f"/tierflow/datasets/{ds.id}" for ds in catalog().datasets),
        "/tierflow/api/summary",
        "/tierflow/lists",
        "/tierflow/api/lists",
    ]
    docs_root = home / "docs" / "data_docs"
    docs = sorted(p.relative_to(docs_root).as_posix() for p in docs_root.rglob("*.html"))
    validations = [d for d in docs if d.startswith("validations/")]
    assert len(validations) == len(catalog().datasets), docs
    problems: list[str] = []
    pages_checked = 0

    def visit(path: str, shot: str) -> Any:
        nonlocal pages_checked
        response = page.goto(base + urllib.parse.quote(path, safe="/?=&"))
        assert response is not None and response.status == 200, (path, response and response.status)
        settle(page)
        assert page.url == response.url, (path, page.url)  # no refresh or script moved it
        problems.extend(f"{path}: {t}" for t in Watch.traces(page))
        page.screenshot(path=str(tmp_path / f"{shot}.png"), full_page=False)
        pages_checked += 1
        return response

    for i, path in enumerate(console):
        response = visit(path, f"console-{i:02d}")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, (path, csp)
    page.goto(base + "/tierflow/")
    settle(page)
    # the hostile file names are on the console, as text
    files = page.locator("#department-table code.file").all_inner_texts()
    assert LOADED_NAME + ".csv" in files, files
    reasons = page.locator("#department-table .reason").all_inner_texts()
    assert any(REJECTED_NAME in r for r in reasons), reasons

    # the lists page shows people's texts as text: purpose, names, reason, legal basis
    page.goto(base + "/tierflow/lists")
    settle(page)
    texts = hostile_console["lists"]
    approved = page.locator("table.demands[data-status='approved'] tr[data-demand]")
    row = approved.filter(has_text=_tag("lists", "purpose"))
    assert row.locator(".purpose").inner_text() == texts["purpose"], where
    assert row.locator(".requested-by").inner_text().startswith(texts["requested_by"]), where
    assert row.locator(".decided-by").inner_text() == texts["decided_by"], where
    assert row.locator(".reason").inner_text() == texts["reason"], where
    negative = page.locator("#negative-table tr[data-negative='mnr.land_parcel.area_m2']")
    assert negative.locator(".legal-basis").inner_text() == texts["legal_basis"], where
    assert negative.locator(".reason").inner_text() == texts["removal"], where
    problems.extend(f"/tierflow/lists: {t}" for t in Watch.traces(page))

    # the console inside Airflow's own frame
    page.goto(base + "/plugin/tierflow-quality")
    framed = page.frame_locator("iframe").first
    framed.locator("#department-table").wait_for()
    problems.extend(f"/plugin/tierflow-quality: {t}" for t in Watch.traces(page))
    # its Data Docs link opens in that frame (Airflow's frame allows no popups), sandboxed
    framed.locator("nav a.data-docs").click()
    framed.locator(".bootstrap-table tbody tr").first.wait_for()
    settle(page)
    problems.extend(f"/plugin/tierflow-quality -> Data Docs: {t}" for t in Watch.traces(page))
    docs_frame = next(f for f in page.frames if "/tierflow/data-docs/index.html" in f.url)
    assert (
        docs_frame.evaluate("() => { try { return document.cookie } catch (e) { return e.name } }")
        == "SecurityError"
    )
    page.screenshot(path=str(tmp_path / "airflow-frame-data-docs.png"))
    pages_checked += 2

    level_tags = {
        _tag(ds.id, c.name): docs_sample_treatment(c) is None
        for ds in catalog().datasets
        for c in ds.columns
    }
    shown_tags: set[str] = set()
    for i, path in enumerate(docs):
        response = visit("/tierflow/data-docs/" + path, f"docs-{i:02d}")
        csp = response.headers["content-security-policy"]
        assert csp.startswith("sandbox allow-scripts;") and "allow-same-origin" not in csp, csp
        html = page.content()
        text = page.locator("body").inner_text()
        shown_tags |= {t for t in level_tags if t in html}
        if path.startswith("validations/"):
            # rendered, styled, with its rows, from the plugin's own assets
            assert page.locator("table tbody tr").count() > 10, (path, where)
            assert page.locator(".bootstrap-table").count() > 0, (path, where)  # its JS ran
            assert (
                page.evaluate("getComputedStyle(document.querySelector('nav.navbar')).display")
                == "flex"
            ), (path, where)
            # a script here is in an origin of its own: no cookie, no API
            assert (
                page.evaluate(
                    "() => { try { return document.cookie } catch (e) { return e.name } }"
                )
                == "SecurityError"
            )
            posted = page.evaluate(
                """async () => { try {
                     const r = await fetch('/api/v2/variables', {method: 'POST',
                       headers: {'Content-Type': 'application/json'},
                       body: JSON.stringify({key: 'pwned', value: '1'})});
                     return 'sent ' + r.status } catch (e) { return 'refused' } }"""
            )
            assert posted == "refused", posted
        if path.endswith("psb.household.html") and path.startswith("validations/"):
            # level-2 values are shown, as text: the script tag of the status column, verbatim
            assert "<script data-pwn>window.__x='~psb.household:status~'" in text, where

    withheld = {t for t, shown in level_tags.items() if not shown}
    assert not shown_tags & withheld, sorted(shown_tags & withheld)
    assert shown_tags, "no level-1/2 failing value on any Data Docs page"
    assert not problems, (problems[:20], where)
    assert not watch.dialogs, watch.dialogs
    # CSP refusals and blocked alerts, less the refusals of this test's own fetch above
    refused = [m for m in watch.console if "/api/v2/variables" not in m]
    assert not refused, refused
    assert not watch.blocked, (watch.blocked[:20], where)
    # no payload created the Airflow variable the reported attack did
    api = Api(base)
    api.login("ops", "ops-password")
    with pytest.raises(urllib.error.HTTPError) as missing:
        api.call("GET", "/api/v2/variables/pwned")
    assert missing.value.code == 404
    summary = {
        "pages_checked": pages_checked,
        "console_pages": len(console) + 1,
        "framed_data_docs": 1,
        "data_docs_pages": len(docs),
        "requests": len(watch.requests),
        "requests_blocked": len(watch.blocked),
        "payloads": len(PAYLOADS),
        "columns": len(level_tags),
        "columns_with_values_shown": len(shown_tags),
    }
    print("hostile console:", json.dumps(summary))
