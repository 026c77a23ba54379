"""Review of pending demands in Airflow: one review run per demand.

``demands__review`` (daily, and on every ``sharing.demands`` Asset event, which ``tierflow
demands request`` raises) expires approvals past their validity and opens, for each pending
demand, a run of ``demands__review_demand`` whose run id is keyed by the demand
(:func:`review_run_id`): Airflow refuses a second run of that id, so no demand gets two open
reviews, and each review waits, times out and is recorded on its own, whatever the others do.

The run's Human-in-the-loop request (:func:`review_request`) is assigned to the approvers of
the department that owns the dataset, minus the requester (four eyes); its outcome goes
through :func:`tierflow.sharing.store.decide_demand`, the function behind ``tierflow demands
decide`` and the one home of the four-eyes rule. An unanswered review times out into the
default option, Reject, recorded as a rejection by ``airflow`` with the reason saying so.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from tierflow.contracts import catalog
from tierflow.sharing import store

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tierflow.contracts import Catalog

log = logging.getLogger(__name__)

APPROVE, REJECT = "Approve", "Reject"
TIMEOUT_ACTOR = "airflow"
RESPONSE_TIMEOUT = dt.timedelta(days=7)
REVIEW_DAG = "demands__review"  # the dispatcher: expiry, then one review run per pending demand
DEMAND_REVIEW_DAG = "demands__review_demand"  # one run per demand (and review round)


def review_run_id(demand_id: str, round_: int = 1) -> str:
    """The run id of a demand's review: ``demand__<id>``, ``demand__<id>__<round>`` for a
    review opened again after an answer the four-eyes rule refused."""
    return f"demand__{demand_id}" if round_ == 1 else f"demand__{demand_id}__{round_}"


def _assignees(demand: dict[str, Any], cat: Catalog) -> list[str] | None:
    """The approvers of the owning department other than the requester; None if the
    department names none (then any user allowed to answer Required Actions may answer)."""
    named = cat.responsibility.approvers.get(cat.dataset(demand["dataset"]).department)
    if not named:
        return None
    return [u for u in named if not store.same_person(u, demand["requested_by"])]


def review_request(eng: Engine, demand_id: str, cat: Catalog | None = None) -> list[dict[str, Any]]:
    """The Human-in-the-loop request for one demand, as a list of none or one: none when it
    is no longer pending (decided on the command line meanwhile) or when its requester is the
    department's only approver. Subject, body (the fields with their classification levels,
    purpose, validity) and the users it is assigned to."""
    cat = cat or catalog()
    with eng.connect() as conn:
        d = store.read_state(conn).demands.get(demand_id)
    if d is None or d["status"] != "pending":
        return []
    users = _assignees(d, cat)
    if users == []:
        log.warning(
            "%s: its requester %s is the only approver of its dataset's department; name"
            " another in schemas/lists/responsibility.yaml or decide it with the CLI",
            demand_id,
            d["requested_by"],
        )
        return []
    levels = {c.name: c.level for c in cat.dataset(d["dataset"]).columns}
    fields = ", ".join(f"{f} (level {levels.get(f, '?')})" for f in d["fields"])
    return [
        {
            "subject": f"{d['id']}: {d['consumer']} asks for {d['dataset']}",
            "body": (
                f"**Fields**: {fields}\n\n"
                f"**Pseudonymised**: {', '.join(d['pseudonymise']) or '—'}\n\n"
                f"**Purpose**: {d['purpose']}\n\n"
                f"**Requested by** {d['requested_by'] or '—'};"
                f" valid {d['valid_days'] or 'open-ended'} days once approved."
            ),
            "assigned_users": [{"id": u, "name": u} for u in users] if users else None,
        }
    ]


def pending_reviews(eng: Engine, cat: Catalog | None = None) -> list[dict[str, Any]]:
    """Every pending demand's request, oldest id first, with its ``demand_id``."""
    cat = cat or catalog()
    return [
        {"demand_id": d["id"], **request}
        for d in store.list_demands(eng, status="pending")
        for request in review_request(eng, d["id"], cat)
    ]


def review_runs(eng: Engine, cat: Catalog | None = None) -> list[dict[str, Any]]:
    """One ``demands__review_demand`` run to open per pending demand that has a request (so
    a demand whose requester is its only approver gets a run once another approver is named):
    its keyed run id and its conf. A run of that id that exists already (the review waiting)
    is left alone."""
    return [
        {
            "trigger_run_id": review_run_id(
                r["demand_id"], store.review_round(eng, r["demand_id"])
            ),
            "conf": {"demand_id": r["demand_id"]},
        }
        for r in pending_reviews(eng, cat)
    ]


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
    """Record one review's outcome (the HITL task's return value; None if it has none).

    An Approve by the demand's own requester (possible only where the department names no
    approvers) is refused by the four-eyes rule of ``decide_demand``: the refusal goes on the
    trail, the demand stays pending, and the next ``demands__review`` run opens a new review
    (the next round's run id) for another approver. A demand decided on the command line
    while its review waited is left as it is."""
    with eng.connect() as conn:
        demand = store.read_state(conn).demands.get(demand_id)
    if demand is not None and demand["status"] != "pending":
        log.info("%s was decided meanwhile (%s): nothing to record", demand_id, demand["status"])
        return demand  # decided on the command line while its review waited
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
    try:
        return store.decide_demand(
            eng, demand_id, approve=chosen[0] == APPROVE, by=by, reason=reason
        )
    except store.FourEyesError as refused:
        log.warning("%s: answer refused: %s", demand_id, refused)
        return store.refuse_review(eng, demand_id, by=by, reason=str(refused))
