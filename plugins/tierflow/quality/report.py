"""Quality history: what each delivery brought, and how each expectation fared over time."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from tierflow.clock import SHANGHAI
from tierflow.db import engine as default_engine
from tierflow.sql_files import statement

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def report(
    dataset: str | None = None, limit: int = 20, eng: Engine | None = None
) -> dict[str, Any]:
    eng = eng or default_engine()
    params = {"dataset": dataset, "limit": limit}
    with eng.connect() as conn:
        deliveries = [
            dict(r)
            for r in conn.execute(statement("quality", "recent_deliveries"), params).mappings()
        ]
        expectations = [
            dict(r)
            for r in conn.execute(statement("quality", "expectation_pass_rates"), params).mappings()
        ]
    from tierflow.quality.audit import audit_report

    return {
        "deliveries": deliveries,
        "expectations": expectations,
        "audit": audit_report(days=30, eng=eng),
    }


def render_report(result: dict[str, Any]) -> str:
    lines = ["Deliveries (latest first)"]
    lines.append(
        f"{'id':>5}  {'dataset':<22}{'date':<12}{'status':<9}{'rows in':>9}{'accepted':>10}{'quarant.':>10}{'rate':>8}{'GX report':>11}"
    )
    for d in result["deliveries"]:
        rate = f"{d['quarantine_rate']:.2%}" if d["quarantine_rate"] is not None else "-"
        lines.append(
            f"{d['delivery_id']:>5}  {d['dataset']:<22}{str(d['delivery_date'] or '-'):<12}{d['status']:<9}"
            f"{d['rows_in']:>9}{d['rows_accepted']:>10}{d['rows_quarantined']:>10}{rate:>8}"
            f"{d['gx_report'] or '-':>11}" + (f"  {d['error']}" if d["error"] else "")
        )
    lines.append("")
    lines.append("Expectations with failures (over the deliveries shown)")
    lines.append(
        f"{'dataset':<22}{'rule':<40}{'severity':<9}{'evaluated':>11}{'failed':>9}{'pass rate':>11}"
    )
    for e in result["expectations"]:
        lines.append(
            f"{e['dataset']:<22}{e['rule_id']:<40}{e['severity']:<9}{e['evaluated']:>11}{e['failed']:>9}"
            f"{e['pass_rate']:>11.4%}"
        )
    audit = result.get("audit")
    if audit:
        lines.append("")
        lines.append(
            f"Responsibility audit {audit['start']} .. {audit['end']} (run by the audit DAG / tierflow audit)"
        )
        lines.append(
            f"{'department':<12}{'due':>6}{'on time':>9}{'late':>6}{'missing':>9}{'rows in':>10}{'quarantine':>12}"
        )
        for d in audit["departments"]:
            lines.append(
                f"{d['department']:<12}{d['due']:>6}{d['on_time']:>9}{d['late']:>6}{d['missing']:>9}"
                f"{d['rows_in']:>10}{d['quarantine_rate']:>12.2%}"
            )
        for late in audit["late_or_missing"][:10]:
            due = dt.datetime.fromisoformat(late["due_at"]).astimezone(SHANGHAI)
            lines.append(
                f"  {late['status']:<8} {late['dataset']:<24} due {due:%Y-%m-%d %H:%M} Asia/Shanghai"
            )
    return "\n".join(lines)
