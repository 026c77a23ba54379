"""Review of pending demands in Airflow (DAG ``demands__review``): one human approval per
pending demand; its outcome goes through :func:`tierflow.sharing.store.decide_demand`, the
function behind ``tierflow demands decide``. An unanswered review times out into the
default option, Reject, recorded as a rejection by ``airflow`` with the reason saying so.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from tierflow.contracts import catalog
from tierflow.sharing import store

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tierflow.contracts import Catalog

APPROVE, REJECT = "Approve", "Reject"
TIMEOUT_ACTOR = "airflow"
RESPONSE_TIMEOUT = dt.timedelta(days=7)


def pending_reviews(eng: Engine, cat: Catalog | None = None) -> list[dict[str, Any]]:
    """One HITL request per pending demand, oldest id first: subject, body (the fields with
    their classification levels, purpose, validity) and the users it is assigned to, the
    approvers of the department that owns the dataset (``schemas/lists/responsibility.yaml``)."""
    cat = cat or catalog()
    approvers = cat.responsibility.approvers
    reviews = []
    for d in store.list_demands(eng, status="pending"):
        dataset = cat.dataset(d["dataset"])
        levels = {c.name: c.level for c in dataset.columns}
        fields = ", ".join(f"{f} (level {levels.get(f, '?')})" for f in d["fields"])
        users = approvers.get(dataset.department, ())
        reviews.append(
            {
                "demand_id": d["id"],
                "subject": f"{d['id']}: {d['consumer']} asks for {d['dataset']}",
                "body": (
                    f"**Fields**: {fields}\n\n"
                    f"**Pseudonymised**: {', '.join(d['pseudonymise']) or '—'}\n\n"
                    f"**Purpose**: {d['purpose']}\n\n"
                    f"**Requested by** {d['requested_by'] or '—'};"
                    f" valid {d['valid_days'] or 'open-ended'} days once approved."
                ),
                "assigned_users": [{"id": u, "name": u} for u in users] or None,
            }
        )
    return reviews


def _user(outcome: dict[str, Any]) -> str | None:
    user = outcome.get("responded_by_user")
    if isinstance(user, dict):
        return user.get("name") or user.get("id")
    return user or None


def record_review(
    eng: Engine,
    demand_id: str,
    outcome: dict[str, Any] | None,
    timeout: dt.timedelta = RESPONSE_TIMEOUT,
) -> dict[str, Any]:
    """Record one review's outcome (the HITL task's return value; None if it has none)."""
    by = _user(outcome or {})
    chosen = (outcome or {}).get("chosen_options") or []
    if by is None or not chosen:
        return store.decide_demand(
            eng,
            demand_id,
            approve=False,
            by=TIMEOUT_ACTOR,
            reason=f"no answer within {timeout.days} days: rejected by timeout",
        )
    reason = ((outcome or {}).get("params_input") or {}).get("reason") or f"{chosen[0]} in Airflow"
    return store.decide_demand(eng, demand_id, approve=chosen[0] == APPROVE, by=by, reason=reason)
