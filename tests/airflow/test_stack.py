"""The local CeleryExecutor stack (deploy/local/stack.sh) end to end, through the REST API v2,
started the way ``make demo-ui`` starts it: ``tierflow demo --ui``.

One stack start (CI's budget): api-server, scheduler, dag-processor, triggerer and two Celery
workers against the PostgreSQL and Redis of this machine; the demo drops its deliveries, triggers
the ingest DAGs and waits for the merge, sink and aggregate DAGs their Assets drive. The test
checks every demo DAG's runs succeeded, both workers executed tasks, the deliveries loaded, the
feeds verify with the demo's key, the console's page and JSON show the deliveries; then
``tierflow demo --stop`` (twice: idempotent) leaves no process. The stack is stopped even when the
test fails; its logs are named in every failure message.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from tests.stack import Api, running_stack

if TYPE_CHECKING:
    from collections.abc import Iterator

DATASETS = ("samr.enterprise", "tax.taxpayer", "psb.household")
DEMO = [sys.executable, "-m", "tierflow.cli", "demo", "--scale", "300", "--seed", "5"]
WINDOW_DAYS = 40  # the console's window: every demo delivery, the monthly ones too
DEMO_TIMEOUT = 1500  # stack start, then the whole chain under the scheduler, on 2 busy cores

pytestmark = [pytest.mark.slow, pytest.mark.airflow, pytest.mark.postgres]


def _workers_that_ran(logs: Path, dag_id: str, run_id: str, task_id: str) -> set[str]:
    """Which worker logged executing this task instance (Celery logs each workload it runs)."""
    ran = set()
    for name in ("worker1", "worker2"):
        text = (logs / f"{name}.log").read_text(errors="replace")
        for line in text.splitlines():
            if (
                "Executing workload in Celery" in line
                and f"log_path='dag_id={dag_id}/run_id={run_id}/task_id={task_id}/" in line
            ):
                ran.add(name)
    return ran


@pytest.fixture(scope="module")
def demo_stack(
    warehouse_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``tierflow demo --ui`` (what ``make demo-ui`` runs) on the session's test warehouse; the
    module's tests share it (one stack start: CI's budget)."""
    start, stop = [*DEMO, "--ui", "--json"], [*DEMO, "--stop"]
    tmp_path = tmp_path_factory.mktemp("demo-stack")
    with running_stack(
        warehouse_url, tmp_path, start=start, stop=stop, timeout=DEMO_TIMEOUT
    ) as info:
        info["demo"] = json.loads(info["stdout"])
        yield info


def _later_ticks(runs: list[dict], triggered: str | None) -> list[dict]:
    """The scheduled runs of dates after the demo's run that are waiting for their delivery."""
    ours = next((r for r in runs if r["dag_run_id"] == triggered), None)
    if ours is None:
        return []
    return [
        r
        for r in runs
        if r is not ours
        and r["run_type"] == "scheduled"
        and r["state"] in ("queued", "running")
        and (r.get("partition_key") or "") > (ours.get("partition_key") or "")
    ]


def test_demo_ui_runs_the_chain_on_the_local_stack_on_both_celery_workers(demo_stack, warehouse):
    from tierflow.contracts import catalog
    from tierflow.merge.survivorship import libraries

    stack, cat = demo_stack, catalog()
    logs, demo = stack["logs"], stack["demo"]
    assert demo["ui"] == stack["base"] and demo["login"] == {
        "username": "ops",
        "password": "ops-password",
    }
    api = Api(stack["base"])
    # anonymous calls are refused; the configured admin gets a token
    with pytest.raises(urllib.error.HTTPError) as refused:
        api.call("GET", "/api/v2/dags", auth=False)
    assert refused.value.code == 401
    api.login("ops", "ops-password")

    # every demo DAG ran under the scheduler, and every run succeeded: the ingests the demo
    # triggered, and the merges, the sink and the aggregation their Asset events started
    demo_dags = [f"ingest__{ds.table_name}" for ds in cat.datasets]
    demo_dags += [f"merge__{lib}" for lib in libraries()] + [
        "sink__districts",
        "aggregate__tiers",
    ]
    runs = {
        d: api.call("GET", f"/api/v2/dags/{d}/dagRuns?limit=100")["dag_runs"] for d in demo_dags
    }
    # An ingest DAG's schedule may tick while the test runs (each has its own time of day): the
    # scheduler then makes the next date's run, which waits for that date's delivery. Only such
    # runs are left aside, and only the downstream DAGs' runs must match the demo's own report.
    later_ticks = {d: _later_ticks(rs, demo["triggered"].get(d)) for d, rs in runs.items()}
    runs = {d: [r for r in rs if r not in later_ticks[d]] for d, rs in runs.items()}
    states = {d: sorted({r["state"] for r in rs}) for d, rs in runs.items()}
    assert all(s == ["success"] for s in states.values()), f"{states}; logs: {logs}"
    assert set(demo["triggered"]) == set(demo_dags[: len(cat.datasets)])
    for dag_id in demo_dags[len(cat.datasets) :]:
        assert demo["runs"][dag_id] == [r["state"] for r in runs[dag_id]]
    for dag_id in demo_dags[len(cat.datasets) :]:
        assert {r["run_type"] for r in runs[dag_id]} == {"asset_triggered"}, runs[dag_id]
    events = api.call("GET", "/api/v2/assets/events?limit=200")["asset_events"]
    assert {f"pool.{ds.table_name}" for ds in cat.datasets} | {"feeds"} <= {
        e["name"] for e in events
    }

    workers: set[str] = set()
    for dag_id in demo_dags[: len(cat.datasets)]:
        (run,) = runs[dag_id]
        tis = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")
        tasks = {t["task_id"]: t for t in tis["task_instances"]}
        assert {t["state"] for t in tasks.values()} == {"success"}, tasks
        for task_id in tasks:
            ran = _workers_that_ran(logs, dag_id, run["dag_run_id"], task_id)
            assert ran, f"no worker logged {dag_id}/{run['dag_run_id']}/{task_id}; logs: {logs}"
            workers |= ran
    assert workers == {"worker1", "worker2"}, f"tasks ran only on {workers}; logs: {logs}"

    # A sink run keyed ``all`` with an Asset-triggered run queued behind it publishes nothing:
    # that run sends the same rows and more. The newest run always publishes, and a run that
    # skipped has a later one that published: no change waits on a run that skipped.
    skipped = _superseded_sink_runs(api, runs["sink__districts"], logs)

    # the pool Asset events drove the merges and the sink: verified district feeds exist
    published = sorted((stack["home"] / "feeds").glob("*/*/*/_SUCCESS"))
    assert published, f"no district feeds; logs: {logs}"
    from tierflow.sink import verify_feed
    from tierflow.sink.signing import key_id, parse_private_key

    # the demo's secrets (0600, under TIERFLOW_HOME/secrets); the processes got only their paths
    airflow_home = Path(stack["env"]["AIRFLOW_HOME"])
    secrets = {name: stack["home"] / "secrets" / f"{name}.key" for name in ("pseudonym", "signing")}
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in secrets.values())
    stack_env = (airflow_home / "stack.env").read_text()
    for name, file in secrets.items():
        assert f"export TIERFLOW_{name.upper()}_KEY_FILE='{file}'" in stack_env
    public = parse_private_key(secrets["signing"].read_text()).public_key()
    keys = {key_id(public): public}
    assert all(verify_feed(p.parent, keys)["ok"] for p in published[:10])
    needles = [f.read_text().strip().encode() for f in secrets.values()]
    for path in airflow_home.rglob("*"):  # logs, stack.env, configs: never a secret's value
        if path.is_file():
            content = path.read_bytes()
            assert not any(n in content for n in needles), f"a secret is in {path}"
    assert {p.parts[-4] for p in published} <= set(cat.divisions.pilot_codes)

    with warehouse.connect() as conn:
        loaded = dict(
            conn.execute(
                sa.text(
                    "select dataset, max(delivery_id) from quality.delivery where status = 'loaded'"
                    " and rows_in > 0 and file_path like :home group by dataset"
                ),
                {"home": f"{stack['home']}/%"},  # the session's warehouse holds other tests' loads
            ).all()
        )
    assert set(loaded) == {ds.id for ds in cat.datasets}, loaded

    # the plugin page and its JSON are served by the stack's api-server, behind the same login
    def get(path: str) -> str:
        request = urllib.request.Request(
            stack["base"] + path, headers={"Authorization": f"Bearer {api.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    # a month back: a monthly dataset's delivery is dated by its schedule's last tick (the 5th)
    html = get(f"/tierflow/?days={WINDOW_DAYS}")
    for dataset in DATASETS:
        assert re.search(rf'data-dataset="{re.escape(dataset)}"[^>]*>', html)
    assert html.count('class="point"') >= len(DATASETS)
    summary = json.loads(get(f"/tierflow/api/summary?days={WINDOW_DAYS}"))
    latest = {ds: entry["delivery_id"] for ds, entry in summary["reasons"].items()}
    # the demo's deliveries are the latest the console shows, unless an earlier test of this
    # session loaded the dataset into the shared warehouse with newer data (the console shows
    # the newest data: delivery date, then arrival): the demo dates a monthly dataset by its
    # schedule's last tick (the 5th), other tests date theirs yesterday
    with warehouse.connect() as conn:
        newness = dict(
            conn.execute(
                sa.text(
                    "select delivery_id, array[extract(epoch from delivery_date),"
                    " extract(epoch from started_at)] from quality.delivery"
                    " where delivery_id = any(:ids)"
                ),
                {"ids": [*loaded.values(), *(latest.get(ds, -1) for ds in loaded)]},
            ).all()
        )
    for dataset, demo_delivery in loaded.items():
        shown = latest.get(dataset)
        assert shown == demo_delivery or newness[shown] >= newness[demo_delivery], (
            f"{dataset}: the console shows delivery {shown}, older than the demo's {demo_delivery}"
        )
    assert set(summary["series"]) >= set(loaded)
    districts = {d["division_code"]: d for d in summary["districts"]}
    assert all(districts[code]["run_id"] for code in {p.parts[-4] for p in published})
    print(
        f"demo --ui (stack start + the whole chain) {stack['start_seconds']:.0f}s,"
        f" {sum(len(r) for r in runs.values())} DAG runs ({len(skipped)} sink runs superseded),"
        f" workers {sorted(workers)}"
    )


def _superseded_sink_runs(api: Api, sinks: list[dict], logs: Path) -> list[str]:
    """The sink runs that published nothing; each must have had an Asset-triggered run that
    started after it and published, and the newest run must have published."""
    published, skipped = {}, []
    for run in sinks:
        path = f"/api/v2/dags/sink__districts/dagRuns/{run['dag_run_id']}/taskInstances"
        tis = api.call("GET", f"{path}?limit=100")["task_instances"]
        states = {t["state"] for t in tis if t["task_id"] == "sink_district"}
        assert states in ({"success"}, {"skipped"}), f"{run['dag_run_id']}: {states}; {logs}"
        published[run["dag_run_id"]] = states == {"success"}
    newest = max(sinks, key=lambda r: r["start_date"])
    assert published[newest["dag_run_id"]], f"the newest sink run published nothing; {logs}"
    for run in sinks:
        if published[run["dag_run_id"]]:
            continue
        after = [
            r
            for r in sinks
            if r["start_date"] > run["start_date"]
            and r["run_type"] == "asset_triggered"
            and published[r["dag_run_id"]]
        ]
        assert after, f"{run['dag_run_id']} published nothing and no later run did; {logs}"
        skipped.append(run["dag_run_id"])
    return skipped


def test_a_demand_reviewed_over_the_rest_api_flows_into_the_next_feed(demo_stack, warehouse):
    """A district files a demand with the CLI; ``demands__review`` under the real scheduler
    opens its review run and so its Human-in-the-loop request; the owner approves it through the REST API; the trail
    says who and why; the decision's Asset event runs the sink, whose next feed for that
    district carries exactly the approved fields. A CLI negative-list change raises the same
    Asset event through the REST API and runs the sink again."""
    from tests.review_flow import (
        RUN_TIMEOUT,
        file_only_pending_demand,
        review_path,
        review_request,
        review_state,
        start_review,
        tierflow,
        wait,
    )

    stack = demo_stack
    logs, api = stack["logs"], Api(stack["base"])
    api.login("ops", "ops-password")
    fields = ["parcel_id", "land_use_code", "division_code"]
    # 江北区 (d500105): its only land-parcel demand expired in 2025, so no such feed yet
    feed_root = stack["home"] / "feeds" / "500105" / "land_parcel"
    assert not list(feed_root.glob("*/_SUCCESS"))
    demand_id = file_only_pending_demand(
        stack,
        consumer="d500105",
        dataset="mnr.land_parcel",
        fields=",".join(fields),
        purpose="耕地保护巡查（续期）",
        valid_days="90",
        by="江北区 王五",
    )
    run_id = start_review(api, stack)
    hitl = review_request(api, stack, demand_id)
    assert hitl["options"] == ["Approve", "Reject"] and "parcel_id" in hitl["body"]
    assert [u["id"] for u in hitl["assigned_users"]] == ["ops"]  # mnr's approvers
    answer = {"chosen_options": ["Approve"], "params_input": {"reason": "同意：耕保巡查续期"}}
    answered = api.call("PATCH", review_path(demand_id), answer)
    assert answered["responded_by"]["name"] == "ops"
    state = wait(lambda: review_state(api, demand_id), RUN_TIMEOUT, "the review run", logs)
    assert state == "success", f"review of {demand_id} (from {run_id}): {state}; logs: {logs}"

    shown = tierflow(stack, "demands", "show", demand_id)
    assert shown["demand"]["status"] == "approved", shown
    assert shown["demand"]["decided_by"] == "ops"
    assert shown["demand"]["reason"] == "同意：耕保巡查续期"
    assert [(e["kind"], e["actor"]) for e in shown["events"]] == [
        ("demand_requested", "江北区 王五"),
        ("demand_decided", "ops"),
    ]

    # the decision's Asset event ran the sink: the district's first land-parcel feed
    published = wait(
        lambda: sorted(feed_root.glob("*/_SUCCESS")), RUN_TIMEOUT, "the land-parcel feed", logs, 5
    )
    manifest = json.loads((published[-1].parent / "_manifest.json").read_text())
    columns = [c["name"] for c in manifest["schema"]]
    assert columns[:2] == ["op", "changed_at"] and sorted(columns[2:]) == sorted(fields), columns
    assert manifest["demand_ids"] == [demand_id]

    # a negative-list entry added with the CLI: the same Asset, through the REST API
    basis = "《土地管理法》第二十条：用途分类在规划公布前不予共享"
    added = tierflow(
        stack, "negative", "add", "mnr.land_parcel", "land_use_code", "--legal-basis", basis,
        "--by", "规划自然资源局 李四",
    )  # fmt: skip
    event = added["asset_event"]
    assert event["sent"] is True and event["asset"] == "sharing.lists", event

    (lists,) = api.call("GET", "/api/v2/assets?uri_pattern=tierflow://sharing/lists")["assets"]
    from tests.partition_flow import asset_events

    events = asset_events(api, f"asset_id={lists['id']}&limit=100", logs)
    (ours,) = [e for e in events if e["id"] == event["event_id"]]
    assert ours["extra"]["change"] == "negative_added", ours

    # the sink follows (a run the event starts, or one whose districts run after it: Airflow
    # may fold an event that arrives while a queued run is created into that run): the next
    # land-parcel feed withholds the field and quotes the law
    def narrowed() -> dict | None:
        for done in sorted(feed_root.glob("*/_SUCCESS")):
            feed = json.loads((done.parent / "_manifest.json").read_text())
            if "land_use_code" in feed["withheld"]:
                return feed
        return None

    feed = wait(narrowed, RUN_TIMEOUT, "a land-parcel feed without land_use_code", logs, 5)
    assert feed["withheld"] == {"land_use_code": basis}, feed["withheld"]
    assert [c["name"] for c in feed["schema"]][2:] == ["parcel_id", "division_code"], feed
    print(f"review {run_id}: {demand_id} approved by ops; feed {published[-1].parent.name}")


def test_reviews_wait_on_their_own_and_only_an_assigned_approver_answers(demo_stack):
    """Two demands filed with the CLI each get their own review run at once (the request's
    ``sharing.demands`` Asset event runs ``demands__review``), the newer while the older waits.
    A second login that is no approver (``district_analyst``, role user) is refused the older
    one's answer with 403 and it stays pending; the newer one, answered by its approver, is
    recorded while the older still waits; another ``demands__review`` run opens no second
    review for it; then its approver's answer is recorded too."""
    from tests.review_flow import (
        DEMAND_REVIEW_DAG,
        REVIEW_DAG,
        RUN_TIMEOUT,
        review_path,
        review_request,
        review_state,
        run_state,
        tierflow,
        wait,
    )
    from tierflow.sharing.review import review_run_id

    stack = demo_stack
    logs, api, analyst = stack["logs"], Api(stack["base"]), Api(stack["base"])
    api.login("ops", "ops-password")
    analyst.login("district_analyst", "analyst-password")
    # the previous test ran demands__review once and left it unpaused
    assert api.call("GET", f"/api/v2/dags/{REVIEW_DAG}")["is_paused"] is False

    def request(purpose: str, by: str) -> str:
        filed = tierflow(
            stack, "demands", "request", "--consumer", "d500106", "--dataset", "mnr.address",
            "--fields", "address_id,division_code", "--purpose", purpose, "--valid-days", "30",
            "--by", by,
        )  # fmt: skip
        event = filed["asset_event"]
        assert event["sent"] is True and event["asset"] == "sharing.demands", event
        return filed["demand"]["id"]

    older = request("地名地址核验", "沙坪坝区 赵六")
    assert review_request(api, stack, older)["assigned_users"] == [{"id": "ops", "name": "ops"}]
    newer = request("门牌整治复核", "沙坪坝区 钱七")
    assert review_request(api, stack, newer)  # opened while the older review waits

    # the analyst may see Required Actions but is not a respondent: 403, nothing recorded
    approve = {"chosen_options": ["Approve"], "params_input": {"reason": "越权"}}
    with pytest.raises(urllib.error.HTTPError) as refused:
        analyst.call("PATCH", review_path(older), approve)
    assert refused.value.code == 403, refused.value.code
    assert "not a respondent" in refused.value.read().decode()
    assert analyst.call("GET", review_path(older))["response_received"] is False
    assert tierflow(stack, "demands", "show", older)["demand"]["status"] == "pending"

    # the newer review, answered by its approver, is recorded while the older one waits
    answer = {"chosen_options": ["Approve"], "params_input": {"reason": "同意：门牌复核"}}
    assert api.call("PATCH", review_path(newer), answer)["responded_by"]["name"] == "ops"
    state = wait(lambda: review_state(api, newer), RUN_TIMEOUT, "the newer review", logs)
    assert state == "success", f"review of {newer}: {state}; logs: {logs}"
    shown = tierflow(stack, "demands", "show", newer)["demand"]
    assert (shown["status"], shown["decided_by"]) == ("approved", "ops"), shown
    assert tierflow(stack, "demands", "show", older)["demand"]["status"] == "pending"
    assert review_state(api, older) is None  # still waiting for its answer

    # another dispatcher run: the older demand's review is open already, none is added
    run_id = api.call("POST", f"/api/v2/dags/{REVIEW_DAG}/dagRuns", {"logical_date": None})[
        "dag_run_id"
    ]
    state = wait(lambda: run_state(api, REVIEW_DAG, run_id), RUN_TIMEOUT, "the dispatcher", logs)
    assert state == "success", f"{REVIEW_DAG} {run_id}: {state}; logs: {logs}"
    tis = api.call("GET", f"/api/v2/dags/{REVIEW_DAG}/dagRuns/{run_id}/taskInstances")
    opened = [t["state"] for t in tis["task_instances"] if t["task_id"] == "open_review"]
    assert opened and set(opened) == {"skipped"}, opened  # every pending demand's review exists
    runs = api.call("GET", f"/api/v2/dags/{DEMAND_REVIEW_DAG}/dagRuns?limit=100")["dag_runs"]
    assert [r["dag_run_id"] for r in runs if older in r["dag_run_id"]] == [review_run_id(older)]

    # the older review still takes its approver's answer
    answer = {"chosen_options": ["Reject"], "params_input": {"reason": "字段超出用途"}}
    assert api.call("PATCH", review_path(older), answer)["responded_by"]["name"] == "ops"
    state = wait(lambda: review_state(api, older), RUN_TIMEOUT, "the older review", logs)
    assert state == "success", f"review of {older}: {state}; logs: {logs}"
    trail = tierflow(stack, "demands", "show", older)
    assert (trail["demand"]["status"], trail["demand"]["reason"]) == ("rejected", "字段超出用途")
    assert [(e["kind"], e["actor"]) for e in trail["events"]] == [
        ("demand_requested", "沙坪坝区 赵六"),
        ("demand_decided", "ops"),
    ]


def test_a_one_district_rerun_through_the_rest_api_recomputes_only_that_district(
    demo_stack, warehouse
):
    """An operator triggers ``sink__districts`` for one district's partition (its code as the
    run's ``partition_key``): only that district's feeds are published (one mapped task), every
    other file under ``feeds/`` and every other ``feed.run`` row is untouched byte for byte; its
    ``feeds`` event carries the district's key, and the aggregate, waiting for all districts,
    holds it as one of 24. Clearing the run's task re-publishes the same bytes."""
    from tests.partition_flow import asset_events, at_rest, feed_runs, files, finished, pending
    from tierflow.contracts import catalog

    stack, pilots = demo_stack, list(catalog().divisions.pilot_codes)
    logs, api, root = stack["logs"], Api(stack["base"]), stack["home"] / "feeds"
    api.login("ops", "ops-password")
    at_rest(api, logs)
    district = "500105"  # 江北区: a pilot with feeds of several libraries
    assert district in pilots and list((root / district).glob("*/*/_SUCCESS"))
    before_files, before_runs = files(root), feed_runs(warehouse, stack["home"])
    held_before = sum(p["total_received"] for p in pending(api, "aggregate__tiers"))

    body = {"logical_date": None, "partition_key": district, "note": "re-run one district"}
    run = api.call("POST", "/api/v2/dags/sink__districts/dagRuns", body)
    assert run["partition_key"] == district
    assert finished(api, "sink__districts", run["dag_run_id"], logs) == "success", logs
    tis = api.call(
        "GET", f"/api/v2/dags/sink__districts/dagRuns/{run['dag_run_id']}/taskInstances"
    )["task_instances"]
    mapped = [t for t in tis if t["task_id"] == "sink_district"]
    assert [t["map_index"] for t in mapped] == [0], mapped  # one district, one task

    after_files, after_runs = files(root), feed_runs(warehouse, stack["home"])
    new = {p for p in after_files if p not in before_files}
    assert new and all(p.split("/")[0] == district for p in new), sorted(new)[:5]
    assert {p: after_files[p] for p in before_files} == before_files  # nothing else touched
    added = after_runs - before_runs
    assert before_runs <= after_runs  # every earlier row as it was
    assert added and {r[1] for r in added} == {f"d{district}"}, added
    folder = run["dag_run_id"].replace(":", "_").replace("+", "_")
    assert {r[0] for r in added} == {folder}

    query = urllib.parse.urlencode({"source_run_id": run["dag_run_id"], "limit": 100})
    events = asset_events(api, query, logs)  # a run id holds "+": encoded
    assert {(e["name"], e["partition_key"]) for e in events} == {("feeds", district)}
    held = pending(api, "aggregate__tiers")
    assert [p["total_required"] for p in held] == [len(pilots)], held
    assert held[0]["total_received"] >= max(1, held_before)  # one district: it waits for all
    assert all(r["dag_run_id"] != run["dag_run_id"] for r in runs_of_aggregate(api))

    # a retry of the district's task (cleared through the REST API) re-publishes the same bytes
    clear = {
        "dag_run_id": run["dag_run_id"],
        "task_ids": ["sink_district"],
        "dry_run": False,
        "only_failed": False,
        "reset_dag_runs": True,
    }
    api.call("POST", "/api/v2/dags/sink__districts/clearTaskInstances", clear)
    assert finished(api, "sink__districts", run["dag_run_id"], logs) == "success", logs
    again = files(root)
    assert {p: h for p, (h, _) in again.items()} == {p: h for p, (h, _) in after_files.items()}
    assert feed_runs(warehouse, stack["home"]) == after_runs
    print(f"district {district} re-run {run['dag_run_id']}: {len(new)} files, others untouched")


def runs_of_aggregate(api: Api) -> list[dict[str, Any]]:
    return api.call("GET", "/api/v2/dags/aggregate__tiers/dagRuns?limit=200")["dag_runs"]


def test_a_one_date_backfill_through_the_rest_api_ingests_exactly_that_date(
    demo_stack, warehouse, tmp_path
):
    """Two late deliveries of one dataset land, for two different past dates. A backfill of
    the ingest DAG over one of those days (``POST /api/v2/backfills``) makes exactly one run,
    keyed by that date: it loads that date's delivery and leaves the other pending; its pool
    event carries the date, the merge runs for that date, the sink for every district, and
    the aggregate, once all districts' feed partitions are in, names them in its report.
    Every feed file published before is untouched byte for byte."""
    import datetime as dt

    from tests.partition_flow import asset_events, at_rest, deliver, files, runs_of
    from tierflow.contracts import catalog

    stack, pilots = demo_stack, sorted(catalog().divisions.pilot_codes)
    logs, api, root = stack["logs"], Api(stack["base"]), stack["home"] / "feeds"
    api.login("ops", "ops-password")
    at_rest(api, logs)
    today = dt.datetime.now(dt.UTC).date()
    day, other = today - dt.timedelta(days=12), today - dt.timedelta(days=11)
    landing = stack["home"] / "landing"
    wanted = deliver(landing, "samr.enterprise", day, 71, tmp_path)
    left = deliver(landing, "samr.enterprise", other, 72, tmp_path)
    before_files = files(root)
    aggregates_before = {r["dag_run_id"] for r in runs_of_aggregate(api)}

    shanghai = dt.timezone(dt.timedelta(hours=8))
    window = {
        "dag_id": "ingest__samr_enterprise",
        "from_date": dt.datetime.combine(day, dt.time(0, 0), shanghai).isoformat(),
        "to_date": dt.datetime.combine(day, dt.time(23, 59), shanghai).isoformat(),
        "max_active_runs": 1,
        "reprocess_behavior": "completed",
    }
    planned = api.call("POST", "/api/v2/backfills/dry_run", window)["backfills"]
    assert [p["partition_key"] for p in planned] == [day.isoformat()], planned
    # the README's command line plans the same one run
    airflow = Path(stack["env"]["STACK_BIN"]) / "airflow"
    dry = subprocess.run(
        ["bash", "-c", f'. "$AIRFLOW_HOME/stack.env" && "{airflow}" backfill create --dag-id'
         f' {window["dag_id"]} --from-date {window["from_date"]} --to-date {window["to_date"]}'
         " --reprocess-behavior completed --dry-run"],
        env=stack["env"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-2000:]
    keys = re.findall(rf"\|\s*({re.escape(day.isoformat())})\s*\|", dry.stdout)
    assert keys == [day.isoformat()], dry.stdout[-2000:]  # one run, keyed by exactly that day
    backfill = api.call("POST", "/api/v2/backfills", window)

    def backfill_run() -> dict | None:
        for r in runs_of(api, "ingest__samr_enterprise"):
            if r["run_type"] == "backfill" and r["state"] in ("success", "failed"):
                return r
        return None

    from tests.review_flow import wait

    run = wait(backfill_run, 600, f"backfill {backfill['id']}'s run", logs, 3)
    assert run["state"] == "success" and run["partition_key"] == day.isoformat(), run
    with warehouse.connect() as conn:
        loaded = dict(
            conn.execute(
                sa.text(
                    "select file_path, status from quality.delivery where file_path in (:a, :b)"
                ),
                {"a": str(wanted), "b": str(left)},
            ).all()
        )
    assert loaded == {str(wanted): "loaded"}, loaded  # the other date is still pending

    query = urllib.parse.urlencode({"source_run_id": run["dag_run_id"], "limit": 100})
    events = asset_events(api, query, logs)  # a run id holds "+": encoded
    assert {(e["name"], e["partition_key"]) for e in events} == {
        ("pool.samr_enterprise", day.isoformat())
    }

    def merged() -> dict | None:
        for r in runs_of(api, "merge__legal_entity"):
            if r["partition_key"] == day.isoformat() and r["state"] in ("success", "failed"):
                return r
        return None

    merge = wait(merged, 600, f"merge__legal_entity for {day}", logs, 3)
    assert merge["state"] == "success" and merge["run_type"] == "asset_triggered", merge
    at_rest(api, logs)
    after_files = files(root)
    assert {p: after_files.get(p) for p in before_files} == before_files  # untouched
    sinks = [r for r in runs_of(api, "sink__districts") if r["partition_key"] == "all"]
    assert sinks and all(r["state"] == "success" for r in sinks), sinks

    (aggregate,) = [r for r in runs_of_aggregate(api) if r["dag_run_id"] not in aggregates_before]
    assert aggregate["state"] == "success" and aggregate["partition_key"] == "city", aggregate
    report = stack["home"] / "reports" / "national"
    folder = aggregate["dag_run_id"].replace(":", "_").replace("+", "_")
    manifest = json.loads((report / folder / "_manifest.json").read_text())
    assert manifest["districts"]["districts_in"] == pilots, manifest["districts"]
    assert manifest["districts"]["districts_missing"] == []
    assert manifest["districts"]["policy"] == f"all {len(pilots)} pilot districts"
    print(f"backfill {day}: {run['dag_run_id']} → {merge['dag_run_id']} → {folder}")
