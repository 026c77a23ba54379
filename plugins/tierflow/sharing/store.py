"""The demand and negative lists in the warehouse (schema ``sharing``), managed online.

Every change is one row of the append-only ``sharing.event`` (who, when, what, why). The
current state tables (``sharing.consumer``, ``demand``, ``negative_entry``,
``negative_removal``) are written only in the transaction that appends the event, by the
same pure function :func:`apply` that :func:`replay` folds over the whole trail: replaying
the events gives the current state (held by a property test).

The YAML under ``schemas/lists/`` is the seed: ``tierflow lists import`` loads it (a second
import records nothing), ``tierflow lists export`` writes the current state back in the same
shape. Once any event exists, the sharing policy reads the warehouse copy
(:func:`policy_catalog`); before that, the YAML.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import yaml

from tierflow.clock import today
from tierflow.config import schemas_dir
from tierflow.contracts import (
    Catalog,
    Consumer,
    ContractError,
    Demand,
    DemandList,
    NegativeEntry,
    NegativeList,
    catalog,
    load_catalog,
)
from tierflow.errors import TierflowError
from tierflow.sql_files import statement

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from sqlalchemy.engine import Connection, Engine

SYSTEM = "tierflow"  # the actor of the daily expiry
DEMAND_FIELDS = ("id", "consumer", "dataset", "fields", "pseudonymise", "purpose", "status")
DEMAND_DATES = ("approved_on", "expires_on")
DEMAND_DEFAULTS: dict[str, Any] = {
    "pseudonymise": [],
    "approved_on": None,
    "expires_on": None,
    "valid_days": None,
    "requested_by": None,
    "requested_at": None,
    "decided_by": None,
    "decided_at": None,
    "reason": None,
}
DEMAND_HEADER = (
    "# 需求清单: what each consumer asked for, and whether it was approved.\n"
    "# Consumers carry a clearance (1-4): fields above it are masked or pseudonymised.\n"
)
NEGATIVE_HEADER = "# 负面清单: never shared, whatever a demand says.\n"


class ListsError(TierflowError):
    """A change to the lists that is refused (one line, exit 2)."""


class FourEyesError(ListsError):
    """The person who asked for a change cannot also be the one who lets it take effect."""


def same_person(a: str | None, b: str | None) -> bool:
    """Whether two recorded names are the same person (case and outer spaces aside)."""
    return a is not None and b is not None and a.strip().casefold() == b.strip().casefold()


def require_second_person(asked_by: str | None, by: str, what: str) -> None:
    """Four eyes: the one home of the rule that whoever asked for ``what`` (a demand, the
    lifting of a negative-list entry) does not approve it; ``decide_demand`` (the CLI and the
    Airflow review) and ``remove_negative --approve`` both call it."""
    if same_person(asked_by, by):
        raise FourEyesError(f"{by} asked for {what}: a second person must approve it")


# --- state and events ---------------------------------------------------------------------


def negative_key(dataset: str, field_name: str | None) -> str:
    return f"{dataset}.{field_name or '*'}"


@dataclass
class Lists:
    """The current state: JSON-able rows keyed by id (dates and times as ISO strings)."""

    consumers: dict[str, dict[str, Any]] = field(default_factory=dict)
    demands: dict[str, dict[str, Any]] = field(default_factory=dict)
    negative: dict[str, dict[str, Any]] = field(default_factory=dict)
    removals: dict[int, dict[str, Any]] = field(default_factory=dict)

    def normalised(self) -> dict[str, Any]:
        """Comparable form (order of keys and rows does not matter)."""
        return {
            "consumers": dict(sorted(self.consumers.items())),
            "demands": dict(sorted(self.demands.items())),
            "negative": dict(sorted(self.negative.items())),
            "removals": dict(sorted(self.removals.items())),
        }


@dataclass(frozen=True)
class Event:
    kind: str
    subject: str
    actor: str
    at: str  # ISO timestamp
    payload: dict[str, Any]
    reason: str | None = None


def apply(state: Lists, event: Event) -> Lists:
    """The state after ``event`` (``state`` is not changed)."""
    new = copy.deepcopy(state)
    p = event.payload
    if event.kind == "consumer_imported":
        new.consumers[p["id"]] = dict(p)
    elif event.kind in ("demand_imported", "demand_requested"):
        new.demands[p["id"]] = {**DEMAND_DEFAULTS, **new.demands.get(p["id"], {}), **p}
    elif event.kind in ("demand_decided", "demand_revoked", "demand_expired"):
        new.demands[event.subject] = {**new.demands[event.subject], **p}
    elif event.kind == "demand_review_refused":
        pass  # on the trail only: an answer the four-eyes rule refused; the demand stays pending
    elif event.kind in ("negative_imported", "negative_added"):
        new.negative[negative_key(p["dataset"], p["field"])] = {
            "added_by": None,
            "added_at": None,
            **p,
        }
    elif event.kind == "negative_removal_requested":
        new.removals[int(p["id"])] = dict(p)
    elif event.kind == "negative_removal_approved":
        removal = {**new.removals[int(p["id"])], **p}
        new.removals[int(p["id"])] = removal
        new.negative.pop(negative_key(removal["dataset"], removal["field"]), None)
    else:
        raise ValueError(f"unknown event kind {event.kind!r}")
    return new


def replay(events: Iterable[Event]) -> Lists:
    state = Lists()
    for event in events:
        state = apply(state, event)
    return state


# --- reading and writing the warehouse --------------------------------------------------------


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def read_state(conn: Connection) -> Lists:
    state = Lists()
    for r in conn.execute(statement("sharing", "consumers")).mappings():
        state.consumers[r["consumer_id"]] = {
            "id": r["consumer_id"],
            "name": r["name"],
            "kind": r["kind"],
            "division_code": r["division_code"],
            "clearance": r["clearance"],
        }
    for r in conn.execute(statement("sharing", "demands")).mappings():
        row = {k: _iso(v) for k, v in r.items()}
        row["id"] = row.pop("demand_id")
        row["consumer"] = row.pop("consumer_id")
        row["fields"] = list(r["fields"])
        row["pseudonymise"] = list(r["pseudonymise"])
        state.demands[row["id"]] = row
    for r in conn.execute(statement("sharing", "negative_entries")).mappings():
        row = {k: _iso(v) for k, v in r.items()}
        state.negative[negative_key(row["dataset"], row["field"])] = row
    for r in conn.execute(statement("sharing", "negative_removals")).mappings():
        row = {k: _iso(v) for k, v in r.items()}
        row["id"] = row.pop("request_id")
        state.removals[row["id"]] = row
    return state


def read_events(conn: Connection, subject: str | None = None) -> list[dict[str, Any]]:
    rows = conn.execute(
        statement("sharing", "events"),
        {"s": subject},
    ).mappings()
    return [{k: _iso(v) for k, v in r.items()} for r in rows]


def events_of(rows: list[dict[str, Any]]) -> list[Event]:
    return [
        Event(r["kind"], r["subject"], r["actor"], r["at"], r["payload"], r["reason"]) for r in rows
    ]


_TABLES = {
    # table: state attribute (each table's upsert and delete: sql/sharing/<table>_*.sql)
    "consumer": "consumers",
    "demand": "demands",
    "negative_removal": "removals",
}


def _write(conn: Connection, before: Lists, after: Lists) -> None:
    """Make the state tables say ``after`` (they said ``before``)."""
    for table, attr in _TABLES.items():
        old, new = getattr(before, attr), getattr(after, attr)
        changed = [row for k, row in new.items() if old.get(k) != row]
        if changed:
            conn.execute(statement("sharing", f"{table}_upsert"), changed)
        gone = [k for k in old if k not in new]
        if gone:
            conn.execute(statement("sharing", f"{table}_delete"), {"k": gone})
    old_n, new_n = before.negative, after.negative
    for k, row in old_n.items():
        if k not in new_n or new_n[k] != row:
            conn.execute(
                statement("sharing", "negative_entry_delete"),
                row,
            )
    added = [row for k, row in new_n.items() if old_n.get(k) != row]
    if added:
        conn.execute(
            statement("sharing", "negative_entry_insert"),
            added,
        )


def _lock(conn: Connection) -> Lists:
    """Serialise writers of the lists; the state as this writer sees it."""
    conn.execute(sa.text("lock table sharing.event in share row exclusive mode"))
    return read_state(conn)


def record(conn: Connection, state: Lists, events: list[Event]) -> Lists:
    """Append ``events`` and bring the state tables along; returns the new state."""
    after = state
    for event in events:
        after = apply(after, event)
    if events:
        conn.execute(
            statement("sharing", "event_insert"),
            [
                dict(
                    at=e.at,
                    actor=e.actor,
                    kind=e.kind,
                    subject=e.subject,
                    reason=e.reason,
                    payload=json.dumps(e.payload, ensure_ascii=False),
                )
                for e in events
            ],
        )
        _write(conn, state, after)
    return after


def has_lists(conn: Connection) -> bool:
    return bool(conn.scalar(sa.text("select exists (select from sharing.event)")))


# --- the catalog the policy reads --------------------------------------------------------------


def demand_model(row: dict[str, Any]) -> Demand:
    return Demand.model_validate(
        {k: row[k] for k in (*DEMAND_FIELDS, *DEMAND_DATES) if row.get(k) not in (None, [])}
    )


def to_catalog(state: Lists, base: Catalog) -> Catalog:
    """``base`` (contracts, divisions, calendar) with the demand and negative lists of ``state``."""
    consumers = sorted(
        state.consumers.values(),
        key=lambda c: (c["kind"] != "district", c["division_code"] or "", c["id"]),
    )
    try:
        return Catalog(
            datasets=base.datasets,
            libraries=base.libraries,
            divisions=base.divisions,
            responsibility=base.responsibility,
            demand=DemandList(
                consumers=tuple(Consumer.model_validate(c) for c in consumers),
                demands=tuple(demand_model(d) for _, d in sorted(state.demands.items())),
            ),
            negative=NegativeList(
                entries=tuple(
                    NegativeEntry(
                        dataset=n["dataset"], field=n["field"], legal_basis=n["legal_basis"]
                    )
                    for _, n in sorted(state.negative.items())
                )
            ),
        )
    except ValueError as exc:
        raise ContractError(f"the warehouse lists do not fit the contracts: {exc}") from None


def policy_catalog(eng: Engine, base: Catalog | None = None) -> Catalog:
    """The catalog the sharing policy compiles: the warehouse lists once any were imported,
    else the YAML seed (``schemas/lists/``) as loaded by :func:`tierflow.contracts.catalog`."""
    base = base or catalog()
    with eng.connect() as conn:
        if not has_lists(conn):
            return base
        return to_catalog(read_state(conn), base)


# --- import and export -------------------------------------------------------------------------


def _yaml_demand(d: Demand) -> dict[str, Any]:
    row = d.model_dump(mode="json")
    row["fields"] = list(row["fields"])
    row["pseudonymise"] = list(row["pseudonymise"])
    return row


def _yaml_projection(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k, DEMAND_DEFAULTS.get(k)) for k in (*DEMAND_FIELDS, *DEMAND_DATES)}


def import_lists(
    eng: Engine, root: Path | None = None, *, by: str = "lists import"
) -> dict[str, Any]:
    """Load the YAML seed: what the warehouse lacks becomes an event. A record the warehouse
    already holds is left as it is, even when the YAML says otherwise (``kept``): decisions
    taken online are never undone by a re-import."""
    cat = load_catalog(root)
    at = _now()
    events: list[Event] = []
    kept: list[str] = []  # in the warehouse and different: the online copy wins
    with eng.begin() as conn:
        state = _lock(conn)
        for c in cat.demand.consumers:
            row = c.model_dump(mode="json")
            known = state.consumers.get(c.id)
            if known is None:
                events.append(Event("consumer_imported", c.id, by, at, row, "YAML seed"))
            elif known != row:
                kept.append(c.id)
        for d in cat.demand.demands:
            row = _yaml_demand(d)
            known = state.demands.get(d.id)
            if known is None:
                events.append(Event("demand_imported", d.id, by, at, row, "YAML seed"))
            elif _yaml_projection(known) != row:
                kept.append(d.id)
        for e in cat.negative.entries:
            row = e.model_dump(mode="json")
            key = negative_key(e.dataset, e.field)
            known = state.negative.get(key)
            if known is None:
                if not any(
                    r["status"] == "approved" and negative_key(r["dataset"], r["field"]) == key
                    for r in state.removals.values()
                ):  # an entry lifted online is not brought back by the seed
                    events.append(Event("negative_imported", key, by, at, row, "YAML seed"))
                else:
                    kept.append(key)
            elif known["legal_basis"] != e.legal_basis:
                kept.append(key)
        record(conn, state, events)
    counts: dict[str, int] = {}
    for e in events:
        counts[e.kind] = counts.get(e.kind, 0) + 1
    return {"events": len(events), "by_kind": counts, "kept": kept}


def _flow(item: dict[str, Any]) -> str:
    text = yaml.safe_dump(
        item, default_flow_style=True, allow_unicode=True, sort_keys=False, width=1 << 20
    )
    return text.strip()


def render_yaml(state: Lists, base: Catalog | None = None) -> tuple[str, str]:
    """(demand.yaml, negative.yaml) of ``state``, in the seed's shape."""
    cat = to_catalog(state, base or catalog())
    lines = [DEMAND_HEADER + "consumers:"]
    for c in cat.demand.consumers:
        row = c.model_dump(mode="json", exclude_none=True)
        lines.append(f"  - {_flow(row)}")
    lines.append("demands:")
    for d in cat.demand.demands:
        row = {k: v for k, v in _yaml_demand(d).items() if v not in (None, [])}
        for k in DEMAND_DATES:  # dates unquoted, as written by hand
            if k in row:
                row[k] = dt.date.fromisoformat(row[k])
        lines.append(f"  - {_flow(row)}")
    negative = [NEGATIVE_HEADER + "entries:"]
    for e in cat.negative.entries:
        negative.append(f"  - {_flow(e.model_dump(mode='json'))}")
    return "\n".join(lines) + "\n", "\n".join(negative) + "\n"


def export_lists(eng: Engine, out: Path | None = None) -> dict[str, Any]:
    out = out or schemas_dir() / "lists"
    with eng.connect() as conn:
        if not has_lists(conn):
            raise ListsError("the warehouse holds no lists yet: run tierflow lists import first")
        state = read_state(conn)
    demand_text, negative_text = render_yaml(state)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demand.yaml").write_text(demand_text, encoding="utf-8")
    (out / "negative.yaml").write_text(negative_text, encoding="utf-8")
    return {
        "out": str(out),
        "consumers": len(state.consumers),
        "demands": len(state.demands),
        "negative_entries": len(state.negative),
    }


# --- changes ------------------------------------------------------------------------------


def _need(value: str | None, what: str) -> str:
    if value is None or not value.strip():
        raise ListsError(f"{what} is required")
    return value.strip()


def _demand(state: Lists, demand_id: str) -> dict[str, Any]:
    try:
        return state.demands[demand_id]
    except KeyError:
        raise ListsError(f"no demand {demand_id!r}") from None


def _next_demand_id(state: Lists, on: dt.date) -> str:
    numbers = [
        int(m.group(1))
        for d in state.demands
        if (m := re.fullmatch(rf"D-{on.year}-(\d+)", d)) is not None
    ]
    return f"D-{on.year}-{max(numbers, default=0) + 1:03d}"


def _blocked(state: Lists, dataset: str, field_name: str) -> str | None:
    for key in (negative_key(dataset, field_name), negative_key(dataset, None)):
        if key in state.negative:
            return state.negative[key]["legal_basis"]
    return None


def request_demand(
    eng: Engine,
    *,
    consumer: str,
    dataset: str,
    fields: Sequence[str],
    pseudonymise: Sequence[str] = (),
    purpose: str,
    valid_days: int | None,
    by: str,
    cat: Catalog | None = None,
) -> dict[str, Any]:
    cat = cat or catalog()
    by = _need(by, "--by")
    purpose = _need(purpose, "--purpose")
    if len(purpose) < 4:
        raise ListsError("--purpose must say why, in at least 4 characters")
    if valid_days is not None and valid_days < 1:
        raise ListsError("--valid-days must be at least 1")
    if not fields:
        raise ListsError("--fields names no field")
    ds = cat.dataset(dataset)
    columns = {c.name for c in ds.columns}
    unknown = [f for f in [*fields, *pseudonymise] if f not in columns]
    if unknown:
        raise ListsError(f"{dataset} has no field {', '.join(unknown)}")
    stray = [f for f in pseudonymise if f not in fields]
    if stray:
        raise ListsError(f"--pseudonymise {', '.join(stray)} is not among --fields")
    with eng.begin() as conn:
        state = _lock(conn)
        if not state.consumers:
            raise ListsError("the warehouse holds no lists yet: run tierflow lists import first")
        if consumer not in state.consumers:
            raise ListsError(f"unknown consumer {consumer!r}")
        for f in fields:
            basis = _blocked(state, dataset, f)
            if basis is not None:
                raise ListsError(f"{dataset}.{f} is on the negative list: {basis}")
        on = today()
        demand_id = _next_demand_id(state, on)
        row = {
            **DEMAND_DEFAULTS,
            "id": demand_id,
            "consumer": consumer,
            "dataset": dataset,
            "fields": list(dict.fromkeys(fields)),
            "pseudonymise": list(dict.fromkeys(pseudonymise)),
            "purpose": purpose,
            "status": "pending",
            "valid_days": valid_days,
            "requested_by": by,
            "requested_at": _now(),
        }
        demand_model(row)  # the same rules as the YAML's
        state = record(
            conn,
            state,
            [Event("demand_requested", demand_id, by, row["requested_at"], row, purpose)],
        )
    return state.demands[demand_id]


def decide_demand(
    eng: Engine, demand_id: str, *, approve: bool, by: str, reason: str
) -> dict[str, Any]:
    by, reason = _need(by, "--by"), _need(reason, "--reason")
    with eng.begin() as conn:
        state = _lock(conn)
        demand = _demand(state, demand_id)
        if demand["status"] != "pending":
            raise ListsError(f"{demand_id} is {demand['status']}, not pending: nothing to decide")
        if approve:
            require_second_person(demand["requested_by"], by, demand_id)
        at, on = _now(), today()
        change: dict[str, Any] = {
            "status": "approved" if approve else "rejected",
            "decided_by": by,
            "decided_at": at,
            "reason": reason,
        }
        if approve:
            change["approved_on"] = on.isoformat()
            if demand["valid_days"]:
                change["expires_on"] = (
                    on + dt.timedelta(days=demand["valid_days"] - 1)
                ).isoformat()
        state = record(conn, state, [Event("demand_decided", demand_id, by, at, change, reason)])
    return state.demands[demand_id]


def refuse_review(eng: Engine, demand_id: str, *, by: str, reason: str) -> dict[str, Any]:
    """Put on the trail that an answer to a demand's review was refused (the four-eyes rule:
    its requester answered Approve); the demand stays pending and the refusal counts toward
    :func:`review_round`, so the next review opened for it is a new one."""
    by, reason = _need(by, "--by"), _need(reason, "--reason")
    with eng.begin() as conn:
        state = _lock(conn)
        demand = _demand(state, demand_id)
        if demand["status"] != "pending":
            raise ListsError(f"{demand_id} is {demand['status']}, not pending: nothing to refuse")
        state = record(
            conn, state, [Event("demand_review_refused", demand_id, by, _now(), {}, reason)]
        )
    return state.demands[demand_id]


def review_round(eng: Engine, demand_id: str) -> int:
    """Which review of the demand is due: 1, plus one per answer refused so far."""
    with eng.connect() as conn:
        events = read_events(conn, demand_id)
    return 1 + sum(e["kind"] == "demand_review_refused" for e in events)


def revoke_demand(eng: Engine, demand_id: str, *, by: str, reason: str) -> dict[str, Any]:
    by, reason = _need(by, "--by"), _need(reason, "--reason")
    with eng.begin() as conn:
        state = _lock(conn)
        demand = _demand(state, demand_id)
        if demand["status"] != "approved":
            raise ListsError(
                f"{demand_id} is {demand['status']}: only an approved demand is revoked"
            )
        at = _now()
        change = {"status": "revoked", "decided_by": by, "decided_at": at, "reason": reason}
        state = record(conn, state, [Event("demand_revoked", demand_id, by, at, change, reason)])
    return state.demands[demand_id]


def expire_demands(eng: Engine, on: dt.date | None = None) -> dict[str, Any]:
    """Approved demands whose last valid day is before ``on`` (default today) become expired."""
    on = on or today()
    with eng.begin() as conn:
        state = _lock(conn)
        at = _now()
        events = [
            Event(
                "demand_expired",
                d["id"],
                SYSTEM,
                at,
                {"status": "expired"},
                f"valid until {d['expires_on']}",
            )
            for _, d in sorted(state.demands.items())
            if d["status"] == "approved"
            and d["expires_on"] is not None
            and dt.date.fromisoformat(d["expires_on"]) < on
        ]
        record(conn, state, events)
    return {"as_of": on.isoformat(), "expired": [e.subject for e in events]}


def list_demands(
    eng: Engine, *, consumer: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    with eng.connect() as conn:
        state = read_state(conn)
    return [
        d
        for _, d in sorted(state.demands.items())
        if (consumer is None or d["consumer"] == consumer)
        and (status is None or d["status"] == status)
    ]


def show_demand(eng: Engine, demand_id: str) -> dict[str, Any]:
    with eng.connect() as conn:
        state = read_state(conn)
        demand = _demand(state, demand_id)
        events = read_events(conn, demand_id)
    return {"demand": demand, "events": events}


def add_negative(
    eng: Engine,
    dataset: str,
    field_name: str,
    *,
    legal_basis: str,
    by: str,
    cat: Catalog | None = None,
) -> dict[str, Any]:
    cat = cat or catalog()
    by, legal_basis = _need(by, "--by"), _need(legal_basis, "--legal-basis")
    if len(legal_basis) < 4:
        raise ListsError("--legal-basis must quote the law, in at least 4 characters")
    if field_name not in {c.name for c in cat.dataset(dataset).columns}:
        raise ListsError(f"{dataset} has no field {field_name}")
    key = negative_key(dataset, field_name)
    with eng.begin() as conn:
        state = _lock(conn)
        if key in state.negative:
            raise ListsError(f"{key} is already on the negative list")
        at = _now()
        row = {
            "dataset": dataset,
            "field": field_name,
            "legal_basis": legal_basis,
            "added_by": by,
            "added_at": at,
        }
        state = record(conn, state, [Event("negative_added", key, by, at, row, legal_basis)])
    return {"entry": state.negative[key]}


def remove_negative(
    eng: Engine, dataset: str, field_name: str, *, by: str, reason: str | None, approve: bool
) -> dict[str, Any]:
    """Ask to lift an entry, or (``approve``) approve another person's pending request."""
    by = _need(by, "--by")
    key = negative_key(dataset, field_name)
    with eng.begin() as conn:
        state = _lock(conn)
        pending = [
            r
            for r in state.removals.values()
            if r["status"] == "pending" and negative_key(r["dataset"], r["field"]) == key
        ]
        at = _now()
        if approve:
            if not pending:
                raise ListsError(f"no pending removal of {key} to approve")
            request = pending[0]
            require_second_person(request["requested_by"], by, f"the removal of {key}")
            change = {
                "id": request["id"],
                "status": "approved",
                "approved_by": by,
                "approved_at": at,
            }
            state = record(
                conn, state, [Event("negative_removal_approved", key, by, at, change, reason)]
            )
            return {"removed": True, "request": state.removals[request["id"]]}
        reason = _need(reason, "--legal-basis")
        if key not in state.negative:
            raise ListsError(f"{key} is not on the negative list")
        if pending:
            raise ListsError(
                f"the removal of {key} is already pending (asked by {pending[0]['requested_by']})"
            )
        request = {
            "id": max(state.removals, default=0) + 1,
            "dataset": dataset,
            "field": field_name,
            "reason": reason,
            "requested_by": by,
            "requested_at": at,
            "status": "pending",
            "approved_by": None,
            "approved_at": None,
        }
        state = record(
            conn, state, [Event("negative_removal_requested", key, by, at, request, reason)]
        )
    return {"removed": False, "request": state.removals[request["id"]]}
