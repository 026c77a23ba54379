"""The "Data quality & deliveries" Airflow plugin: discovery, real figures, and the login it needs.

The plugin is served through Airflow's own api-server app (``create_app``), so routing, the auth
manager and the ``_token`` cookie are Airflow's, not a stand-in.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

if TYPE_CHECKING:
    from collections.abc import Iterator

SH = ZoneInfo("Asia/Shanghai")
DATASET = "samr.enterprise"
# (days before today, defect rate): three deliveries with different quality; one day is missing.
DELIVERIES = ((2, 0.15), (3, 0.30), (5, 0.20))


@pytest.fixture(scope="module")
def ui_warehouse() -> Iterator[sa.Engine]:
    """A warehouse of this module's own: other tests ingest samr.enterprise into the shared one."""
    from tests.conftest import migrated_database

    with migrated_database("tierflow_ui") as eng:
        yield eng


@pytest.fixture(scope="module")
def seeded(ui_warehouse: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Three ingested samr.enterprise deliveries and two published district feeds."""
    import os

    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file

    root = tmp_path_factory.mktemp("ui-home")
    previous = os.environ.get("TIERFLOW_HOME")
    os.environ["TIERFLOW_HOME"] = str(root)
    eng = ui_warehouse
    today = dt.datetime.now(SH).date()
    results = []
    for days_ago, defect_rate in DELIVERIES:
        out = root / f"gen{days_ago}"
        generate(
            out=out,
            scale=1500,
            seed=days_ago,
            defect_rate=defect_rate,
            as_of=today - dt.timedelta(days=days_ago),
            datasets=[DATASET],
        )
        (data_file,) = [
            p for p in (out / "landing").rglob("*") if p.is_file() and p.suffix != ".ready"
        ]
        # GX reports left pending (the step after the load is not run here)
        results.append(ingest_file(data_file, DATASET, eng=eng, run_gx=True))
    # Data Docs as GX would write them
    docs = root / "docs" / "data_docs"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html><body>GX Data Docs index</body></html>")
    # one feed for 渝中区 (500103), acknowledged, and an unacknowledged one for 万州区 (500101)
    feed_dir = root / "feeds" / "500103" / "person" / "run-1"
    feed_dir.mkdir(parents=True)
    (feed_dir / "part-0.parquet").write_bytes(b"x" * 4096)
    now = dt.datetime.now(dt.UTC)
    with eng.begin() as conn:
        insert = sa.text(
            "insert into feed.run (run_id, consumer_id, feed_name, watermark_from, watermark_to,"
            " row_count, path, published_at) values (:run, :consumer, 'person', null, :wm, :rows,"
            " :path, :at)"
        )
        conn.execute(
            insert,
            {
                "run": "run-1",
                "consumer": "d500103",
                "wm": now,
                "rows": 1234,
                "path": str(feed_dir),
                "at": now,
            },
        )
        conn.execute(
            insert,
            {
                "run": "run-7",
                "consumer": "d500101",
                "wm": now,
                "rows": 77,
                "path": "/nowhere",
                "at": now,
            },
        )
        conn.execute(
            sa.text(
                "insert into feed.watermark (consumer_id, feed_name, acked_run_id, acked_watermark)"
                " values ('d500103', 'person', 'run-1', :wm)"
            ),
            {"wm": now},
        )
    try:
        yield {"root": root, "results": results, "today": today}
    finally:
        if previous is None:
            os.environ.pop("TIERFLOW_HOME", None)
        else:
            os.environ["TIERFLOW_HOME"] = previous


@pytest.fixture(scope="module")
def api(airflow_db: str, ui_warehouse: sa.Engine) -> Iterator[Any]:
    """Airflow's api-server app with the plugins folder of this repository, and a user token."""
    from airflow import plugins_manager
    from airflow.api_fastapi.app import create_app, get_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from tierflow.ui.app import warehouse

    app = create_app(apps="core")
    for sub in plugins_manager.get_fastapi_plugins()[0]:
        if sub["url_prefix"] == "/tierflow":
            sub["app"].dependency_overrides[warehouse] = lambda: ui_warehouse
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="ops", role="viewer"))
    with TestClient(app, base_url="http://localhost") as client:
        client.token = token  # type: ignore[attr-defined]
        yield client
    purge_cached_app()


@pytest.mark.unit
def test_plugin_is_discovered_from_the_plugins_folder():
    from airflow import plugins_manager

    plugins, _errors = plugins_manager._get_plugins()
    ours = [p for p in plugins if p.name == "tierflow_data_quality"]
    assert len(ours) == 1, [p.name for p in plugins]
    assert "tierflow_ui_plugin.py" in str(ours[0].source)
    (app,) = ours[0].fastapi_apps
    assert app["url_prefix"] == "/tierflow"
    (view,) = ours[0].external_views
    assert view["href"] == "/tierflow/" and view["url_route"] == "tierflow-quality"
    # the UI lists it in the navigation (validated by Airflow's own response model)
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    ExternalViewResponse.model_validate(view)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "path",
    [
        "/tierflow/",
        "/tierflow/api/summary",
        "/tierflow/data-docs/index.html",
        "/tierflow/lists",
        "/tierflow/api/lists",
    ],
)
def test_anonymous_requests_are_refused(api, path):
    response = api.get(path, follow_redirects=False)
    assert response.status_code == 401, response.text
    # a browser without a session is sent to Airflow's login page, and back afterwards
    response = api.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/auth/login")
    assert "next=" in response.headers["location"]
    # a forged token is refused too
    forged = api.get(path, cookies={"_token": "not-a-jwt"}, follow_redirects=False)
    assert forged.status_code in (401, 403)


def _cells(html: str, attribute: str) -> list[str]:
    return re.findall(rf'{attribute}="([^"]*)"', html)


@pytest.mark.postgres
@pytest.mark.slow
def test_overview_renders_real_figures(api, seeded, ui_warehouse):
    warehouse = ui_warehouse
    response = api.get("/tierflow/", cookies={"_token": api.token})
    assert response.status_code == 200, response.text
    html = response.text
    # pass rate chart of samr.enterprise: one point per delivery day, values from quality.delivery
    with warehouse.connect() as conn:
        expected = {
            str(day): accepted / rows_in
            for day, accepted, rows_in in conn.execute(
                sa.text(
                    "select delivery_date, rows_accepted, rows_in from quality.delivery"
                    " where dataset = :d and status = 'loaded'"
                ),
                {"d": DATASET},
            )
        }
    card = html.split(f'data-dataset="{DATASET}"', 1)[1].split('<div class="card', 1)[0]
    points = dict(re.findall(r'data-day="([\d-]+)" data-value="([\d.]+)"', card))
    assert {d: round(float(v), 6) for d, v in points.items()} == {
        d: round(v, 6) for d, v in expected.items()
    }
    assert len(points) == len(DELIVERIES)
    assert all(r < 1 for r in expected.values()), expected
    # latest quarantine reasons: those of the newest delivery (2 days ago)
    newest = seeded["results"][0]
    with warehouse.connect() as conn:
        top_reason, top_rows = conn.execute(
            sa.text(
                "select reason, count(*) from quality.quarantine, unnest(reasons) as reason"
                " where delivery_id = :d group by reason order by count(*) desc, reason limit 1"
            ),
            {"d": newest["delivery_id"]},
        ).one()
    assert f"(delivery {newest['delivery_id']})" in card
    assert f'<code>{top_reason}</code></td><td class="num">{top_rows:,}</td>' in card
    # department audit: samr's deliveries came late (ingested now, days after the due time);
    # the day nobody delivered for (as of 4 days ago, due 3 days ago) is missing
    samr = html.split('data-department="samr"', 1)[1].split("</tr>", 1)[0]
    assert 'data-late="3"' in samr
    missing_due = (seeded["today"] - dt.timedelta(days=3)).isoformat()
    assert f'data-outcome="missing" data-dataset="{DATASET}" data-due="{missing_due}"' in samr
    late_due = (seeded["today"] - dt.timedelta(days=1)).isoformat()
    assert f'data-outcome="late" data-dataset="{DATASET}" data-due="{late_due}"' in samr
    # pilot districts: 渝中区 acknowledged with its bytes on disk, 万州区 published but not acked
    yuzhong = html.split('data-division="500103"', 1)[1].split("</tr>", 1)[0]
    assert 'data-rows="1234"' in yuzhong and 'data-bytes="4096"' in yuzhong
    assert 'data-acknowledged="yes"' in yuzhong
    wanzhou = html.split('data-division="500101"', 1)[1].split("</tr>", 1)[0]
    assert 'data-rows="77"' in wanzhou and 'data-acknowledged="no"' in wanzhou
    # charts, not only tables
    assert html.count("<svg") >= 3
    assert "/tierflow/data-docs/index.html" in html


@pytest.mark.postgres
@pytest.mark.slow
def test_dataset_page_json_and_data_docs(api, seeded):
    cookies = {"_token": api.token}
    page = api.get(f"/tierflow/datasets/{DATASET}", cookies=cookies)
    assert page.status_code == 200
    assert page.text.count('class="point"') == len(DELIVERIES)
    assert 'class="bar"' in page.text  # quarantine reasons chart
    # each day's delivery: its GX report pending (the ledger's gx_status)
    assert page.text.count('<td class="gx-report">1 pending</td>') == len(DELIVERIES)
    assert api.get("/tierflow/datasets/no.such", cookies=cookies).status_code == 404
    # the same figures as JSON, with a bearer token from the API side
    summary = api.get(
        "/tierflow/api/summary", headers={"Authorization": f"Bearer {api.token}"}
    ).json()
    rows_in = sum(p["rows_in"] for p in summary["series"][DATASET])
    assert rows_in == sum(r["rows_in"] for r in seeded["results"])
    assert sum(p["gx_pending"] for p in summary["series"][DATASET]) == len(DELIVERIES)
    docs = api.get("/tierflow/data-docs/index.html", cookies=cookies)
    assert docs.status_code == 200 and "GX Data Docs index" in docs.text
    escape = api.get("/tierflow/data-docs/..%2F..%2Fpg%2Fpostmaster.pid", cookies=cookies)
    assert escape.status_code == 404


@pytest.mark.unit
def test_expected_deliveries_follow_the_responsibility_list():
    from tierflow.contracts import catalog
    from tierflow.quality.audit import due_by

    now = dt.datetime(2026, 3, 10, 9, 0, tzinfo=SH)  # a Tuesday, after every due time

    def expected_deliveries(cat, now, days):
        last = now.date()
        return due_by(cat, last - dt.timedelta(days=days), last, now)

    expected = expected_deliveries(catalog(), now, days=7)
    daily = [e for e in expected if e.dataset == "samr.enterprise"]
    assert [e.due_at.date().day for e in daily] == list(range(3, 11))
    assert all(e.period_start == e.period_end for e in daily)  # a daily extract is dated D - 1
    weekly = [e for e in expected if e.dataset == "mnr.address"]
    assert [(e.period_start, e.period_end) for e in weekly] == [
        (dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    ]
    monthly = [e for e in expected if e.dataset == "hrss.social_insurance"]
    assert [(e.period_start, e.period_end) for e in monthly] == [
        (dt.date(2026, 2, 5), dt.date(2026, 3, 4))
    ]
    tax = [e for e in expected if e.dataset == "tax.taxpayer"]  # due on the 10th at 08:00
    assert [(e.period_start, e.period_end) for e in tax] == [
        (dt.date(2026, 2, 10), dt.date(2026, 3, 9))
    ]
    earlier = expected_deliveries(catalog(), now.replace(hour=7), days=7)
    assert not [e for e in earlier if e.dataset == "tax.taxpayer"]  # not due yet at 07:00


# --- headers, paths, sessions (issue #19) ---------------------------------------------------

CONSOLE_PATHS = [
    "/tierflow/",
    f"/tierflow/datasets/{DATASET}",
    "/tierflow/lists",
    "/tierflow/api/summary",
    "/tierflow/api/lists",
]


def _directives(csp: str) -> dict[str, str]:
    return {d.split()[0]: d.partition(" ")[2] for d in (p.strip() for p in csp.split(";")) if d}


@pytest.mark.postgres
@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_console_responses_carry_the_console_policy(api, seeded, path):
    from tierflow.ui import security

    response = api.get(path, cookies={"_token": api.token})
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-security-policy"] == security.CONSOLE_CSP
    csp = _directives(headers["content-security-policy"])
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"  # nothing inline
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'self'"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.postgres
@pytest.mark.parametrize("path", CONSOLE_PATHS[:3])
def test_console_pages_have_no_inline_script_or_style(api, seeded, path):
    html = api.get(path, cookies={"_token": api.token}).text
    assert "<script" not in html and "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html, re.IGNORECASE)
    (sheet,) = re.findall(r'<link rel="stylesheet" href="([^"]+)">', html)
    css = api.get(sheet)  # public: no session needed for the stylesheet
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    # the console links to Data Docs in the same browsing context: Airflow's frame allows no
    # popups, and the page itself is sandboxed by its own headers
    links = re.findall(r'<a class="data-docs" [^>]*>', html)
    assert links and all("target=" not in link and "noreferrer" in link for link in links)


@pytest.mark.postgres
def test_data_docs_are_sandboxed_from_airflow(api, seeded):
    response = api.get("/tierflow/data-docs/index.html", cookies={"_token": api.token})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert csp.startswith("sandbox allow-scripts;") and "allow-same-origin" not in csp
    directives = _directives(csp)
    assert directives["sandbox"] == "allow-scripts"
    assert directives["connect-src"] == "'none'" and directives["form-action"] == "'none'"
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'self'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("vendor/jquery/jquery.min.js", "text/javascript"),
        ("vendor/bootstrap/bootstrap.min.css", "text/css"),
        ("vendor/fontawesome/webfonts/fa-solid-900.woff2", "font/woff2"),
        ("images/logo-long.png", "image/png"),  # GX's own static folder
    ],
)
def test_data_docs_assets_are_served_by_the_plugin_without_a_session(api, path, content_type):
    from tierflow.ui import assets

    assert not assets.missing(), "run `make assets` (python -m tierflow.ui.assets)"
    response = api.get(f"/tierflow/data-docs/static/{path}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"
    # a sandboxed page has an opaque origin: fonts (CORS) load only with an open ACAO
    assert response.headers["access-control-allow-origin"] == "*"
    assert "sandbox" in response.headers["content-security-policy"]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "path",
    [
        "data-docs/index.html%00",
        "data-docs/%00",
        "data-docs/index.html%00.html",
        "data-docs/index.html%0a",
        "data-docs/..%2F..%2Fpg%2Fpostmaster.pid",
        "data-docs/..%2Fgx%2Fgreat_expectations.yml",
        "data-docs/index.html%2F",
        "data-docs/a%5C..%5Cindex.html",
        "data-docs/%ff%fe.html",
        "data-docs/" + "a" * 600 + ".html",
        "data-docs/" + "a" * 300 + ".html",  # a name longer than the file system allows
        "data-docs/%E2%80%AEindex.html",  # right-to-left override (a format character)
        "data-docs/static/vendor/..%2F..%2Fapp.py",
        "data-docs/static/vendor/manifest.json",  # not an asset type
        "data-docs/static/vendor/%00.js",
        "data-docs/static/images/nothing.png",
        "static/%00.css",
        "static/..%2Fapp.py",
    ],
)
def test_malformed_or_unknown_paths_are_404(api, seeded, path):
    response = api.get(f"/tierflow/{path}", cookies={"_token": api.token})
    assert response.status_code == 404, (path, response.status_code, response.text[:200])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"]


def _stale_tokens(api) -> dict[str, str]:
    import jwt
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    header = jwt.get_unverified_header(api.token)
    claims = jwt.decode(api.token, options={"verify_signature": False})
    user = SimpleAuthManagerUser(username="ops", role="viewer")
    return {
        "garbage": "not-a-jwt",
        # signed with another secret, e.g. before the api-server's secret was rotated
        "other-secret": jwt.encode(claims, "an-old-secret-" * 5, algorithm=header["alg"]),
        "expired": get_auth_manager().generate_jwt(user, expiration_time_in_seconds=-600),
    }


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["garbage", "other-secret", "expired"])
@pytest.mark.parametrize("path", ["/tierflow/", "/tierflow/data-docs/index.html"])
def test_a_stale_session_on_a_page_goes_to_the_login_page(api, seeded, kind, path):
    token = _stale_tokens(api)[kind]
    page = api.get(
        path, cookies={"_token": token}, headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert page.status_code == 303, (kind, page.status_code, page.text[:200])
    assert (
        page.headers["location"].startswith("/auth/login") and "next=" in page.headers["location"]
    )
    assert page.headers["cache-control"] == "no-store"
    # JSON clients keep the status Airflow gave the credentials
    data = api.get(
        "/tierflow/api/summary",
        cookies={"_token": token},
        headers={"Accept": "application/json"},
        follow_redirects=False,
    )
    assert data.status_code == (401 if kind == "expired" else 403), (kind, data.status_code)
    assert data.headers["content-type"] == "application/json"


@pytest.mark.unit
def test_safe_relative_path():
    from tierflow.ui.security import safe_relative_path

    assert str(safe_relative_path("validations/a/b.html")) == "validations/a/b.html"
    assert str(safe_relative_path("index.html")) == "index.html"
    for bad in (
        "",
        "/etc/passwd",
        "a/../b.html",
        "./a.html",
        "a//b.html",
        "a/",
        "a\\b.html",
        "a\x00.html",
        "a\n.html",
        "\u202eindex.html",
        "\udcff.html",
        "a" * 513,
    ):
        assert safe_relative_path(bad) is None, repr(bad)


@pytest.mark.unit
def test_even_a_failing_page_carries_the_headers():
    from fastapi.testclient import TestClient

    from tierflow.ui import security
    from tierflow.ui.app import create_app, require_user, warehouse

    def broken() -> None:
        raise RuntimeError("warehouse down")

    app = create_app()
    app.dependency_overrides[require_user] = lambda: "ops"
    app.dependency_overrides[warehouse] = broken
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500 and "warehouse down" not in response.text
    assert response.headers["content-security-policy"] == security.CONSOLE_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


# --- the online lists page (issue #17) ----------------------------------------------------------


@pytest.fixture(scope="module")
def online_lists(ui_warehouse: sa.Engine) -> dict[str, Any]:
    """The seed imported, then decisions taken online: what the lists page must show."""
    from tierflow.sharing import store

    eng = ui_warehouse
    store.import_lists(eng)
    short = store.request_demand(
        eng,
        consumer="d500105",
        dataset="mnr.land_parcel",
        fields=["parcel_id", "land_use_code", "division_code"],
        purpose="耕地保护巡查（续期）",
        valid_days=10,
        by="江北区 王五",
    )
    store.decide_demand(eng, short["id"], approve=True, by="规划自然资源局 李四", reason="续期一季")
    long = store.request_demand(
        eng,
        consumer="d500106",
        dataset="mnr.address",
        fields=["address_id", "full_address"],
        purpose="标准地址核对",
        valid_days=90,
        by="沙坪坝区 赵六",
    )
    store.decide_demand(eng, long["id"], approve=True, by="规划自然资源局 李四", reason="同意")
    store.revoke_demand(eng, "D-2026-001", by="公安局 张三", reason="网格服务改由街道承担")
    store.remove_negative(
        eng,
        "hrss.social_insurance",
        "phone",
        by="人社局 钱七",
        reason="经办授权已更新",
        approve=False,
    )
    return {"short": short["id"], "long": long["id"]}


@pytest.mark.postgres
@pytest.mark.slow
def test_lists_page_shows_demands_decisions_expiring_and_the_negative_list(api, online_lists):
    page = api.get("/tierflow/lists", cookies={"_token": api.token})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="not-online"' not in html  # the lists are in the warehouse now

    def row(demand_id: str) -> str:
        section = html.split(f'<tr data-demand="{demand_id}" data-status=', 1)[1]
        return section.split("</tr>", 1)[0]

    # pending: the seed's D-2026-147, with who asked it (nobody online: the seed)
    assert 'data-demand="D-2026-147" data-status="pending"' in html
    # approved online: who asked, who decided, why
    short = row(online_lists["short"])
    assert "江北区 王五" in short and "规划自然资源局 李四" in short and "续期一季" in short
    assert "耕地保护巡查（续期）" in short
    # revoked: by whom and why
    revoked = row("D-2026-001")
    assert revoked.startswith('"revoked"') and "公安局 张三" in revoked
    assert "网格服务改由街道承担" in revoked
    # expiring within 30 days: the 10-day approval, not the 90-day one nor the open-ended seed
    expiring = html.split('id="expiring-table"', 1)[1].split("</table>", 1)[0]
    assert f'data-demand="{online_lists["short"]}"' in expiring
    assert 'data-days-left="10"' in expiring
    assert online_lists["long"] not in expiring and "D-2026-002" not in expiring
    # the negative list with its legal bases, and the removal waiting for a second person
    negative = html.split('id="negative-table"', 1)[1].split("</table>", 1)[0]
    assert "《个人信息保护法》第二十八条：民族属于敏感个人信息" in negative
    phone = negative.split('data-negative="hrss.social_insurance.phone"', 1)[1].split("</tr>")[0]
    assert "pending: asked by 人社局 钱七" in phone and "经办授权已更新" in phone
    # the counts agree with the warehouse, and the JSON says the same
    data = api.get("/tierflow/api/lists", headers={"Authorization": f"Bearer {api.token}"}).json()
    for status, n in data["counts"].items():
        assert f'data-status="{status}" data-count="{n}"' in html
    assert [d["demand_id"] for d in data["expiring"]] == [online_lists["short"]]
    assert data["counts"]["revoked"] == 1 and data["counts"]["pending"] == 1
    assert {(n["dataset"], n["field"]) for n in data["negative"]} == {
        ("hrss.social_insurance", "phone"),
        ("psb.household", "ethnicity"),
    }
    approved = {d["demand_id"]: d for d in data["demands"]["approved"]}
    assert approved[online_lists["short"]]["decided_by"] == "规划自然资源局 李四"
    assert approved[online_lists["short"]]["reason"] == "续期一季"
