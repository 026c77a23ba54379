"""The demand and negative lists managed online (schema ``sharing``, tierflow.sharing.store).

Each test module gets its own fresh, migrated database: the event trail is append-only, so
no test can clean up after another.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PROJECT_ROOT, migrated_database
from tierflow.contracts import catalog
from tierflow.sharing import store
from tierflow.sharing.policy import plan_feeds
from tierflow.sink.purge import why_ended

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

LISTS = PROJECT_ROOT / "schemas" / "lists"


@pytest.fixture(scope="module")
def lists_db() -> Iterator[sa.Engine]:
    with migrated_database("tierflow_lists") as eng:
        yield eng


@pytest.fixture()
def fresh_db() -> Iterator[sa.Engine]:
    """A database of its own, for a test that must not see what the property test did."""
    with migrated_database("tierflow_lists_fresh") as eng:
        yield eng


@pytest.fixture()
def cli(lists_db: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run ``tierflow …`` in-process against ``lists_db``: (exit code, stdout, stderr)."""
    from tierflow import db
    from tierflow.cli import main

    monkeypatch.setenv("TIERFLOW_DATABASE_URL", lists_db.url.render_as_string(hide_password=False))
    db.engine.cache_clear()

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    db.engine.cache_clear()


def _state(eng: sa.Engine) -> store.Lists:
    with eng.connect() as conn:
        return store.read_state(conn)


def _events(eng: sa.Engine) -> list[dict]:
    with eng.connect() as conn:
        return store.read_events(conn)


@pytest.mark.postgres
def test_before_any_import_the_policy_reads_the_yaml(lists_db):
    assert store.policy_catalog(lists_db) is catalog()


@pytest.mark.postgres
def test_import_is_idempotent_and_export_gives_the_yaml_back(lists_db, tmp_path):
    first = store.import_lists(lists_db)
    cat = catalog()
    assert first["events"] == (
        len(cat.demand.consumers) + len(cat.demand.demands) + len(cat.negative.entries)
    )
    before, events = _state(lists_db), _events(lists_db)
    again = store.import_lists(lists_db)
    assert again == {"events": 0, "by_kind": {}, "kept": []}
    assert _state(lists_db) == before and _events(lists_db) == events
    store.export_lists(lists_db, tmp_path)
    for name in ("demand.yaml", "negative.yaml"):
        assert (tmp_path / name).read_text(encoding="utf-8") == (LISTS / name).read_text(
            encoding="utf-8"
        ), name
    # the policy now compiles the warehouse copy, and it says what the YAML says
    online = store.policy_catalog(lists_db)
    assert online is not cat
    assert online.demand == cat.demand and online.negative == cat.negative


@pytest.mark.postgres
def test_the_event_trail_is_append_only(lists_db):
    store.import_lists(lists_db)
    for sql in (
        "update sharing.event set actor = 'someone else'",
        "delete from sharing.event",
        "truncate sharing.event",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), lists_db.begin() as conn:
            conn.execute(sa.text(sql))
    assert _events(lists_db)


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.postgres
def test_demand_lifecycle_on_the_command_line(cli, lists_db):
    assert cli("lists", "import", "--json")[0] == 0
    base = ("demands", "request", "--consumer", "d500104", "--dataset", "psb.household")
    ask = ("--purpose", "网格员入户走访", "--by", "alice", "--json")
    # a negative-listed field is refused, quoting the legal basis
    code, out, err = cli(*base, "--fields", "name,ethnicity", *ask)
    assert code == 2 and out == ""
    assert "psb.household.ethnicity is on the negative list" in _one_line_error(err)
    assert "第二十八条" in err
    # unknown dataset, unknown field, pseudonymise outside fields: one line, exit 2
    for bad in (
        ("--dataset", "psb.nothing", "--fields", "name"),
        ("--fields", "name,shoe_size"),
        ("--fields", "name", "--pseudonymise", "id_number"),
        ("--fields", "name", "--valid-days", "0"),
    ):
        argv = list(base) + list(bad)
        if "--dataset" in bad:
            argv = ["demands", "request", "--consumer", "d500104", *bad]
        code, _, err = cli(*argv, *ask)
        assert code == 2, bad
        _one_line_error(err)
    events = len(_events(lists_db))
    code, out, _ = cli(*base, "--fields", "id_number,name,gender", "--pseudonymise", "id_number",
                       "--valid-days", "30", *ask)  # fmt: skip
    assert code == 0
    demand = json.loads(out)["demand"]
    assert demand["status"] == "pending" and demand["requested_by"] == "alice"
    assert demand["id"].startswith(f"D-{dt.date.today().year}-")
    assert len(_events(lists_db)) == events + 1  # the refusals recorded nothing
    did = demand["id"]
    code, out, _ = cli("demands", "list", "--status", "pending", "--json")
    assert did in [d["id"] for d in json.loads(out)["demands"]]
    # deciding needs exactly one of --approve/--reject, and a reason
    assert (
        cli("demands", "decide", did, "--approve", "--reject", "--by", "bob", "--reason", "x")[0]
        == 2
    )
    assert cli("demands", "decide", did, "--approve", "--by", "bob")[0] == 2
    code, out, _ = cli(
        "demands", "decide", did, "--approve", "--by", "bob", "--reason", "合规", "--json"
    )
    approved = json.loads(out)["demand"]
    assert approved["status"] == "approved" and approved["decided_by"] == "bob"
    on = dt.date.fromisoformat(approved["approved_on"])
    assert dt.date.fromisoformat(approved["expires_on"]) == on + dt.timedelta(days=29)
    assert cli("demands", "decide", did, "--reject", "--by", "bob", "--reason", "again")[0] == 2
    # the approved demand flows to d500104 now
    cat = store.policy_catalog(lists_db)
    consumer = next(c for c in cat.demand.consumers if c.id == "d500104")
    plans = {p.name: p for p in plan_feeds(cat, consumer, on)}
    assert did in plans["person"].demand_ids
    # expiry: the day after its last valid day it is expired, with an event by tierflow
    after = (on + dt.timedelta(days=30)).isoformat()
    code, out, _ = cli("demands", "expire", "--as-of", after, "--json")
    assert did in json.loads(out)["expired"]
    assert cli("demands", "expire", "--as-of", after, "--json")[1].count(did) == 0
    cat = store.policy_catalog(lists_db)
    assert why_ended(cat, [did], on + dt.timedelta(days=30)) == (
        f"{did}: expired on {approved['expires_on']}"
    )
    code, out, _ = cli("demands", "show", did, "--json")
    shown = json.loads(out)
    assert shown["demand"]["status"] == "expired"
    assert [(e["kind"], e["actor"]) for e in shown["events"]] == [
        ("demand_requested", "alice"),
        ("demand_decided", "bob"),
        ("demand_expired", "tierflow"),
    ]
    assert cli("demands", "show", "D-1999-001")[0] == 2


@pytest.mark.postgres
def test_revoking_closes_the_feed_and_says_why(cli, lists_db):
    cli("lists", "import")
    on = dt.date(2026, 3, 1)
    cat = store.policy_catalog(lists_db)
    consumer = next(c for c in cat.demand.consumers if c.id == "d500101")
    assert "person" in {p.name for p in plan_feeds(cat, consumer, on)}
    assert cli("demands", "revoke", "D-2026-001", "--by", "carol")[0] == 2  # no reason
    code, out, _ = cli(
        "demands", "revoke", "D-2026-001", "--by", "carol", "--reason", "网格撤销", "--json"
    )
    assert code == 0 and json.loads(out)["demand"]["status"] == "revoked"
    cat = store.policy_catalog(lists_db)
    assert "person" not in {p.name for p in plan_feeds(cat, consumer, on)}
    assert why_ended(cat, ["D-2026-001"], on) == "D-2026-001: revoked"
    assert cli("demands", "revoke", "D-2026-001", "--by", "carol", "--reason", "again")[0] == 2


@pytest.mark.postgres
def test_lifting_a_negative_entry_takes_two_people(cli, lists_db):
    cli("lists", "import")
    code, _, err = cli(
        "negative", "add", "psb.household", "shoe_size", "--legal-basis", "某法第一条", "--by", "a"
    )
    assert code == 2 and "shoe_size" in _one_line_error(err)
    code, out, _ = cli("negative", "add", "psb.household", "updated_at", "--legal-basis",
                       "《个人信息保护法》第二十八条", "--by", "alice", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["entry"]["added_by"] == "alice"
    cat = store.policy_catalog(lists_db)
    assert any(e.field == "updated_at" for e in cat.negative.entries)
    remove = ("negative", "remove", "psb.household", "updated_at")
    assert cli(*remove, "--approve", "--by", "bob")[0] == 2  # nothing pending
    code, out, _ = cli(*remove, "--legal-basis", "已取得单独同意", "--by", "alice", "--json")
    assert code == 0 and json.loads(out)["removed"] is False
    code, _, err = cli(*remove, "--approve", "--by", "alice")
    assert code == 2 and "second person" in _one_line_error(err)
    assert any(e.field == "updated_at" for e in store.policy_catalog(lists_db).negative.entries)
    code, out, _ = cli(*remove, "--approve", "--by", "bob", "--json")
    assert code == 0 and json.loads(out)["removed"] is True
    assert not any(e.field == "updated_at" for e in store.policy_catalog(lists_db).negative.entries)
    # a re-import of the seed does not undo what was decided online
    assert store.import_lists(lists_db)["events"] == 0


# --- replaying the trail gives the current state ------------------------------------------

CONSUMERS = [c.id for c in catalog().demand.consumers]
DATASETS = ["psb.household", "hrss.social_insurance", "samr.enterprise", "mnr.address"]
PEOPLE = ["alice", "bob", "carol"]


def _fields(dataset: str) -> list[str]:
    return [c.name for c in catalog().dataset(dataset).columns]


operation = st.one_of(
    st.tuples(
        st.just("request"),
        st.sampled_from(CONSUMERS),
        st.sampled_from(DATASETS),
        st.integers(0, 2**16),
        st.sampled_from(PEOPLE),
        st.one_of(st.none(), st.integers(-1, 400)),
    ),
    st.tuples(st.just("decide"), st.integers(0, 10**6), st.booleans(), st.sampled_from(PEOPLE)),
    st.tuples(st.just("revoke"), st.integers(0, 10**6), st.sampled_from(PEOPLE)),
    st.tuples(st.just("expire"), st.integers(-400, 800)),
    st.tuples(
        st.just("negative_add"),
        st.sampled_from(DATASETS),
        st.integers(0, 100),
        st.sampled_from(PEOPLE),
    ),
    st.tuples(
        st.just("negative_remove"), st.integers(0, 100), st.sampled_from(PEOPLE), st.booleans()
    ),
)


def _run(eng: sa.Engine, op: tuple) -> None:
    state = _state(eng)
    demands = sorted(state.demands)
    kind = op[0]
    if kind == "request":
        _, consumer, dataset, pick, by, days = op
        names = _fields(dataset)
        fields = [f for i, f in enumerate(names) if pick >> (i % 16) & 1] or names[:1]
        store.request_demand(
            eng, consumer=consumer, dataset=dataset, fields=fields, purpose="属性测试申请",
            valid_days=days, by=by,
        )  # fmt: skip
    elif kind == "decide":
        store.decide_demand(
            eng, demands[op[1] % len(demands)], approve=op[2], by=op[3], reason="审核"
        )
    elif kind == "revoke":
        store.revoke_demand(eng, demands[op[1] % len(demands)], by=op[2], reason="撤销")
    elif kind == "expire":
        store.expire_demands(eng, dt.date(2026, 3, 1) + dt.timedelta(days=op[1]))
    elif kind == "negative_add":
        names = _fields(op[1])
        store.add_negative(
            eng, op[1], names[op[2] % len(names)], legal_basis="某法某条某款", by=op[3]
        )
    else:
        keys = sorted(state.negative)
        entry = state.negative[keys[op[1] % len(keys)]] if keys else None
        if entry is None or entry["field"] is None:
            return
        store.remove_negative(
            eng, entry["dataset"], entry["field"], by=op[2], reason="已取得授权", approve=op[3]
        )


@pytest.mark.postgres
@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=8))
def test_replaying_the_events_gives_the_current_state(lists_db, ops):
    store.import_lists(lists_db)
    for op in ops:
        before = len(_events(lists_db))
        try:
            _run(lists_db, op)
        except store.ListsError:
            assert len(_events(lists_db)) == before  # a refusal records nothing
    events = store.events_of(_events(lists_db))
    assert store.replay(events).normalised() == _state(lists_db).normalised()
    # and the state is always a valid demand/negative list for the contracts
    store.to_catalog(_state(lists_db), catalog())


@pytest.mark.unit
def test_render_of_the_seed_is_the_seed(tmp_path: Path):
    """Without a database: importing the YAML into an empty state and rendering gives it back."""
    cat = catalog()
    at = "2026-01-01T00:00:00+00:00"
    events = [
        store.Event("consumer_imported", c.id, "t", at, c.model_dump(mode="json"))
        for c in cat.demand.consumers
    ]
    events += [
        store.Event("demand_imported", d.id, "t", at, d.model_dump(mode="json"))
        for d in cat.demand.demands
    ]
    events += [
        store.Event("negative_imported", "k", "t", at, e.model_dump(mode="json"))
        for e in cat.negative.entries
    ]
    demand, negative = store.render_yaml(store.replay(events), cat)
    assert demand == (LISTS / "demand.yaml").read_text(encoding="utf-8")
    assert negative == (LISTS / "negative.yaml").read_text(encoding="utf-8")


@pytest.mark.postgres
def test_share_refresh_compiles_the_warehouse_lists(fresh_db, monkeypatch):
    """A demand revoked online closes the district's pull view at the next refresh."""
    from tierflow.sharing.views import share_refresh

    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", "lists test pseudonym key")
    store.import_lists(fresh_db)
    on = dt.date(2026, 3, 1)

    def views(schema: str) -> set[str]:
        with fresh_db.connect() as conn:
            return set(
                conn.scalars(
                    sa.text(
                        "select table_name from information_schema.views where table_schema = :s"
                    ),
                    {"s": schema},
                )
            )

    share_refresh(on, eng=fresh_db)
    assert "person" in views("share_500102")
    store.revoke_demand(fresh_db, "D-2026-007", by="carol", reason="测试撤销")
    share_refresh(on, eng=fresh_db)
    left = views("share_500102")
    assert "person" not in left and left  # its other demands still flow


@pytest.mark.postgres
def test_a_review_outcome_is_recorded_like_demands_decide(fresh_db):
    """What the demands__review DAG records for an answer, and for a review left unanswered."""
    from tierflow.sharing.review import pending_reviews, record_review

    store.import_lists(fresh_db)
    asked = [
        store.request_demand(
            fresh_db, consumer="d500110", dataset="mnr.address", fields=["full_address"],
            purpose="地址核验复核", valid_days=10, by="alice",
        )["id"]
        for _ in range(2)
    ]  # fmt: skip
    assert set(asked) <= {r["demand_id"] for r in pending_reviews(fresh_db)}
    answered = record_review(
        fresh_db,
        asked[0],
        {"chosen_options": ["Approve"], "params_input": {"reason": "合规"},
         "responded_by_user": {"id": "7", "name": "bob"}},
    )  # fmt: skip
    assert (answered["status"], answered["decided_by"], answered["reason"]) == (
        "approved",
        "bob",
        "合规",
    )
    timed_out = record_review(fresh_db, asked[1], None)
    assert (timed_out["status"], timed_out["decided_by"]) == ("rejected", "airflow")
    assert "no answer within 7 days" in timed_out["reason"]
    assert not {r["demand_id"] for r in pending_reviews(fresh_db)} & set(asked)


@pytest.mark.postgres
def test_a_cli_change_of_the_policy_announces_the_lists_asset(
    fresh_db, monkeypatch, capsys, tmp_path
):
    """Without Airflow configured the change is recorded and the answer says no event was sent;
    with an api-server that does not answer, the change still stands and stderr says so in one
    line. (The event itself reaching Airflow is tested in tests/airflow/test_stack.py.)"""
    import socket

    from tierflow import db
    from tierflow.cli import main

    monkeypatch.setenv("TIERFLOW_DATABASE_URL", fresh_db.url.render_as_string(hide_password=False))
    db.engine.cache_clear()

    def run(*argv: str) -> tuple[int, dict, str]:
        code = main([*argv, "--json"])
        out, err = capsys.readouterr()
        return code, json.loads(out) if out else {}, err

    try:
        assert run("lists", "import")[1]["asset_event"]["sent"] is False
        basis = "《测绘法》第三十四条：坐标不对外提供"
        code, result, err = run(
            "negative", "add", "mnr.address", "longitude", "--legal-basis", basis, "--by", "甲"
        )
        assert code == 0 and err == "", err
        assert result["asset_event"] == {
            "asset": "sharing.lists",
            "sent": False,
            "configured": False,
            "why": "TIERFLOW_AIRFLOW_API_URL is not set: the DAGs see it at their next run",
        }
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        monkeypatch.setenv("TIERFLOW_AIRFLOW_API_URL", f"http://127.0.0.1:{closed}")
        monkeypatch.setenv("TIERFLOW_AIRFLOW_API_USER", "ops")
        monkeypatch.setenv("TIERFLOW_AIRFLOW_API_PASSWORD", "ops-password")
        # asking for a removal changes no policy: no event
        code, result, err = run(
            "negative",
            "remove",
            "mnr.address",
            "longitude",
            "--legal-basis",
            "已脱密",
            "--by",
            "甲",
        )
        assert code == 0 and "asset_event" not in result and err == ""
        code, result, err = run(
            "negative", "remove", "mnr.address", "longitude", "--by", "乙", "--approve"
        )
        assert code == 0 and result["removed"] is True
        assert (
            result["asset_event"]["sent"] is False
            and "Connection refused" in (result["asset_event"]["why"])
        )
        assert err.count("\n") == 1 and "sharing.lists event not sent" in err, err
        assert "mnr.address.longitude" not in _state(fresh_db).negative  # the change stands
        # a refused change announces nothing
        code = main(["demands", "revoke", "D-2026-147", "--by", "乙", "--reason", "不需要了"])
        out, err = capsys.readouterr()
        assert code == 2 and "sharing.lists" not in err and err.count("\n") == 1, err
        # the announcement can be sent again on its own
        code, result, err = run("lists", "announce")
        assert code == 0 and result["asset_event"]["sent"] is False and err.count("\n") == 1
    finally:
        db.engine.cache_clear()


@pytest.mark.postgres
def test_a_review_is_assigned_to_the_owning_departments_approvers_and_shows_levels(cli, lists_db):
    from tierflow.contracts import catalog
    from tierflow.sharing.review import pending_reviews

    cli("lists", "import")
    code, out, _ = cli(
        "demands", "request", "--consumer", "d500105", "--dataset", "mnr.land_parcel",
        "--fields", "parcel_id,land_use_code", "--purpose", "耕地保护巡查", "--valid-days", "30",
        "--by", "江北区 王五", "--json",
    )  # fmt: skip
    assert code == 0
    demand_id = json.loads(out)["demand"]["id"]
    cat = catalog()
    (review,) = [r for r in pending_reviews(lists_db, cat) if r["demand_id"] == demand_id]
    owners = cat.responsibility.approvers["mnr"]
    assert review["assigned_users"] == [{"id": u, "name": u} for u in owners]
    levels = {c.name: c.level for c in cat.dataset("mnr.land_parcel").columns}
    assert f"parcel_id (level {levels['parcel_id']})" in review["body"]
    assert f"land_use_code (level {levels['land_use_code']})" in review["body"]
    # a department with no approvers named: the request is not assigned (anyone may answer)
    bare = cat.model_copy(
        update={"responsibility": cat.responsibility.model_copy(update={"approvers": {}})}
    )
    (open_review,) = [r for r in pending_reviews(lists_db, bare) if r["demand_id"] == demand_id]
    assert open_review["assigned_users"] is None


@pytest.mark.postgres
def test_a_requester_cannot_approve_their_own_demand(cli, lists_db):
    """Four eyes on the command line: the requester's approval is refused in one line, exit 2,
    and records nothing (whatever the case of the name); a second person's approval works.
    The requester may still reject (withdraw) it: that narrows what flows."""
    cli("lists", "import")
    ask = ("demands", "request", "--consumer", "d500105", "--dataset", "mnr.land_parcel",
           "--fields", "parcel_id", "--purpose", "耕地保护巡查", "--valid-days", "30")  # fmt: skip
    did = json.loads(cli(*ask, "--by", "alice", "--json")[1])["demand"]["id"]
    before = len(_events(lists_db))
    for by in ("alice", " Alice "):
        code, _, err = cli("demands", "decide", did, "--approve", "--by", by, "--reason", "自批")
        assert code == 2 and "second person must approve" in _one_line_error(err), err
    assert len(_events(lists_db)) == before and _state(lists_db).demands[did]["status"] == "pending"
    code, out, _ = cli(
        "demands", "decide", did, "--approve", "--by", "bob", "--reason", "合规", "--json"
    )
    assert code == 0 and json.loads(out)["demand"]["decided_by"] == "bob"
    other = json.loads(cli(*ask, "--by", "carol", "--json")[1])["demand"]["id"]
    code, out, _ = cli(
        "demands", "decide", other, "--reject", "--by", "carol", "--reason", "不再需要", "--json"
    )
    assert code == 0 and json.loads(out)["demand"]["status"] == "rejected"


@pytest.mark.postgres
def test_a_review_is_never_assigned_to_its_requester_and_refuses_their_approval(lists_db):
    """On the Airflow path the requester is left out of the assigned approvers; where the
    department names none (anyone may answer) the requester's Approve is refused by the same
    rule: the refusal is on the trail, the demand stays pending and its next review is a new
    run id (round 2). A demand decided with the CLI while its review waited is left as is."""
    from tierflow.sharing.review import (
        record_review,
        review_request,
        review_run_id,
        review_runs,
    )

    cat = catalog()

    def with_approvers(approvers: dict) -> object:
        return cat.model_copy(
            update={
                "responsibility": cat.responsibility.model_copy(update={"approvers": approvers})
            }
        )

    store.import_lists(lists_db)
    ask = dict(consumer="d500105", dataset="mnr.land_parcel", fields=["parcel_id"],
               purpose="耕地保护巡查", valid_days=30)  # fmt: skip
    mine = store.request_demand(lists_db, **ask, by="ops")["id"]
    # the requester is the only approver: no review opens (nobody else may answer it)
    assert review_request(lists_db, mine, with_approvers({"mnr": ("ops",)})) == []
    assert mine not in {
        r["conf"]["demand_id"] for r in review_runs(lists_db, with_approvers({"mnr": ("ops",)}))
    }
    (request,) = review_request(lists_db, mine, with_approvers({"mnr": ("ops", "mnr_owner")}))
    assert request["assigned_users"] == [{"id": "mnr_owner", "name": "mnr_owner"}]
    (open_to_all,) = review_request(lists_db, mine, with_approvers({}))
    assert open_to_all["assigned_users"] is None
    unassigned = with_approvers({})  # mnr names no approvers: the requester could answer
    assert {"trigger_run_id": review_run_id(mine), "conf": {"demand_id": mine}} in review_runs(
        lists_db, unassigned
    )

    answer = {"chosen_options": ["Approve"], "params_input": {"reason": "自批"},
              "responded_by_user": {"id": "ops", "name": "ops"}}  # fmt: skip
    refused = record_review(lists_db, mine, answer)
    assert refused["status"] == "pending" and refused["decided_by"] is None
    trail = store.show_demand(lists_db, mine)["events"]
    assert [(e["kind"], e["actor"]) for e in trail] == [
        ("demand_requested", "ops"),
        ("demand_review_refused", "ops"),
    ]
    assert "second person must approve" in trail[-1]["reason"]
    assert review_run_id(mine, 2) == f"demand__{mine}__2"
    assert {"trigger_run_id": review_run_id(mine, 2), "conf": {"demand_id": mine}} in review_runs(
        lists_db, unassigned
    )
    approved = record_review(
        lists_db, mine, {**answer, "responded_by_user": {"id": "lee", "name": "lee"}}
    )
    assert (approved["status"], approved["decided_by"]) == ("approved", "lee")
    assert store.replay(store.events_of(_events(lists_db))).normalised() == (
        _state(lists_db).normalised()
    )

    # decided on the command line while its review waited: the review's outcome changes nothing
    other = store.request_demand(lists_db, **ask, by="江北区 王五")["id"]
    store.decide_demand(lists_db, other, approve=False, by="lee", reason="重复申请")
    assert review_request(lists_db, other) == []
    assert other not in {r["conf"]["demand_id"] for r in review_runs(lists_db)}
    kept = record_review(lists_db, other, None)
    assert (kept["status"], kept["decided_by"]) == ("rejected", "lee")
