"""Server-rendered pages: figures from ``queries`` turned into charts and tables (Jinja2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from tierflow import config
from tierflow.ui import charts, queries

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tierflow.contracts import Catalog, Dataset

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
OUTCOME_COLOURS = {
    "on_time": charts.PASS,
    "late": charts.WARN,
    "missing": charts.FAIL,
    "rejected": "#6b46c1",
}


def data_docs_dir() -> Path:
    """The console serves the Data Docs of the local GX project (on object storage, the
    bucket's ``docs/`` holds the published copy)."""
    return config.docs_build_dir() / "data_docs"


def _local(value: dt.datetime | None) -> str | None:
    return value.astimezone(queries.LOCAL).strftime("%Y-%m-%d %H:%M") if value else None


def _size(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _cut(text: str | None, chars: int) -> str | None:
    """A delivered text (file name, rejection reason) cut for a table cell."""
    if not text:
        return None
    return text if len(text) <= chars else text[:chars] + "…"


def _rate_class(rate: float) -> str:
    return "ok" if rate >= 0.99 else "warn" if rate >= 0.95 else "bad"


def _common(base: str, user: str, days: int) -> dict[str, Any]:
    return {
        "base": base,
        "user": user,
        "days": days,
        "docs_available": (data_docs_dir() / "index.html").is_file(),
        "generated_at": _local(dt.datetime.now(dt.UTC)),
    }


def _dataset_card(
    ds: Dataset, points: list[dict[str, Any]], latest: dict[str, Any] | None
) -> dict[str, Any]:
    rated = [p for p in points if p["pass_rate"] is not None]
    last = rated[-1] if rated else None
    return {
        "id": ds.id,
        "label": ds.label,
        "latest_rate": last["pass_rate"] if last else None,
        "rate_class": _rate_class(last["pass_rate"]) if last else "muted",
        "latest_day": last["day"] if last else None,
        "latest_rows_in": last["rows_in"] if last else 0,
        "latest_quarantined": last["rows_quarantined"] if last else 0,
        "chart": Markup(
            charts.pass_rate_chart(
                [(p["day"], p["pass_rate"]) for p in points], label=f"{ds.id} pass rate"
            )
        ),
        "reasons": latest["reasons"] if latest else [],
        "reasons_delivery": latest["delivery_id"] if latest else None,
    }


def overview_context(eng: Engine, cat: Catalog, *, days: int) -> dict[str, Any]:
    """Everything the overview shows, as plain data (the JSON endpoint returns it too)."""
    today = dt.datetime.now(queries.LOCAL).date()
    series = queries.pass_rates(eng, today - dt.timedelta(days=days))
    reasons = queries.quarantine_reasons(eng)
    audit = queries.delivery_audit(eng, cat, days=days)
    districts = queries.district_feeds(eng, cat)
    return {
        "series": series,
        "reasons": reasons,
        "audit": audit,
        "districts": districts,
    }


def render_overview(eng: Engine, cat: Catalog, *, base: str, user: str, days: int) -> str:
    data = overview_context(eng, cat, days=days)
    cards = [
        _dataset_card(ds, data["series"].get(ds.id, []), data["reasons"].get(ds.id))
        for ds in cat.datasets
    ]
    # datasets with deliveries first: they are what an operator came to look at
    cards.sort(key=lambda c: c["latest_rate"] is None)
    departments = data["audit"]["departments"]
    for dept in departments:
        for problem in dept["problems"]:
            problem["due_local"] = _local(problem["due_at"])
            problem["due_day"] = problem["due_at"].astimezone(queries.LOCAL).date().isoformat()
            problem["arrived_local"] = _local(problem["arrived_at"])
            # as delivered: the template escapes them like every other value
            problem["file_name"] = _cut(PurePath(problem["file_path"] or "").name, 120)
            problem["reason"] = _cut(problem["error"], 300)
    department_chart = charts.stacked_bar_chart(
        [
            (
                f"{d['owner']} ({d['department']})",
                [(o, d[o], OUTCOME_COLOURS[o]) for o in OUTCOME_COLOURS],
            )
            for d in departments
        ],
        label="deliveries by department",
    )
    districts = data["districts"]
    for d in districts:
        d["size"] = _size(d["bytes"])
        d["published_local"] = _local(d["published_at"])
    published = [d for d in districts if d["run_id"]]
    district_chart = (
        charts.bar_chart(
            [
                (
                    f"{d['name']} {d['division_code']}",
                    float(d["rows"] or 0),
                    charts.PASS if d["acknowledged"] else charts.WARN,
                )
                for d in published
            ],
            label="rows in the last feed per district (green: acknowledged)",
        )
        if published
        else ""
    )
    return TEMPLATES.get_template("overview.html").render(
        **_common(base, user, days),
        datasets=cards,
        departments=departments,
        grace_minutes=data["audit"]["grace_minutes"],
        department_chart=Markup(department_chart),
        districts=districts,
        district_chart=Markup(district_chart),
    )


def render_dataset(
    eng: Engine, cat: Catalog, dataset_id: str, *, base: str, user: str, days: int
) -> str:
    ds = cat.dataset(dataset_id)
    today = dt.datetime.now(queries.LOCAL).date()
    points = queries.pass_rates(eng, today - dt.timedelta(days=days)).get(ds.id, [])
    latest = queries.quarantine_reasons(eng, top=20).get(ds.id)
    reasons_chart = charts.bar_chart(
        [(r["reason"], float(r["rows"]), charts.FAIL) for r in (latest or {}).get("reasons", [])],
        width=640,
        label=f"{ds.id} quarantine reasons",
    )
    return TEMPLATES.get_template("dataset.html").render(
        **_common(base, user, days),
        ds={
            "id": ds.id,
            "label": ds.label,
            "owner": ds.owner,
            "frequency": ds.frequency.value,
        },
        chart=Markup(
            charts.pass_rate_chart(
                [(p["day"], p["pass_rate"]) for p in points],
                width=720,
                height=220,
                label=f"{ds.id} pass rate",
            )
        ),
        points=points,
        latest=latest,
        reasons_chart=Markup(reasons_chart),
    )


def lists_context(eng: Engine) -> dict[str, Any]:
    """The online lists as plain data (the JSON endpoint returns it too)."""
    return queries.lists_overview(eng)


def render_lists(eng: Engine, *, base: str, user: str) -> str:
    data = lists_context(eng)
    for rows in data["demands"].values():
        for d in rows:
            # purposes, names and reasons are typed by people: the template escapes them
            d["requested_local"] = _local(d["requested_at"])
            d["decided_local"] = _local(d["decided_at"])
    for n in data["negative"]:
        n["added_local"] = _local(n["added_at"])
        n["removal_requested_local"] = _local(n["removal_requested_at"])
    return TEMPLATES.get_template("lists.html").render(
        **_common(base, user, data["expiring_within_days"]), **data
    )
