"""Partition keys and the aggregate's wait policy (schemas/partitions.yaml): strict, explained."""

from __future__ import annotations

import pytest

from tierflow.contracts import ContractError, catalog
from tierflow.partitions import (
    PartitionError,
    WaitFor,
    check_minimum,
    coverage,
    delivery_date,
    load_policy,
    not_started,
    sink_districts,
    superseded_by,
)

pytestmark = pytest.mark.unit

PILOTS = ["500101", "500103", "500105"]


def test_the_projects_policy_waits_for_every_pilot_district():
    policy = load_policy().aggregate
    assert policy.wait_for is WaitFor.all and policy.minimum is None
    check_minimum(policy, len(catalog().divisions.pilot_codes))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("aggregate:\n  wait_for: minimum\n", "minimum is required with wait_for: minimum"),
        ("aggregate:\n  wait_for: all\n  minimum: 3\n", "and only with it"),
        ("aggregate:\n  wait_for: most\n", "aggregate.wait_for"),
        ("aggregate:\n  wait_for: all\n  grace: 1h\n", "aggregate.grace"),
        ("aggregate:\n  wait_for: minimum\n  minimum: 0\n", "aggregate.minimum"),
        ("aggregate: [\n", "not valid YAML"),
    ],
)
def test_a_broken_policy_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "partitions.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractError) as refused:
        load_policy(path)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert str(refused.value).startswith("partitions.yaml")


def test_a_minimum_above_the_pilot_count_could_never_fire(tmp_path):
    path = tmp_path / "partitions.yaml"
    path.write_text("aggregate:\n  wait_for: minimum\n  minimum: 4\n", encoding="utf-8")
    policy = load_policy(path).aggregate
    with pytest.raises(PartitionError, match="exceeds the 3 pilot districts"):
        check_minimum(policy, len(PILOTS))
    check_minimum(policy, 4)


def test_coverage_names_the_districts_in_and_the_missing_ones(tmp_path):
    path = tmp_path / "partitions.yaml"
    path.write_text("aggregate:\n  wait_for: minimum\n  minimum: 2\n", encoding="utf-8")
    policy = load_policy(path).aggregate
    seen = coverage(policy, PILOTS, ["500105", "500101", "500105", "999999"])
    assert seen == {
        "policy": "at least 2 of 3 pilot districts",
        "expected": 3,
        "districts_in": ["500101", "500105"],  # a key that is no pilot is not counted
        "districts_missing": ["500103"],
    }
    everyone = coverage(load_policy().aggregate, PILOTS, PILOTS)
    assert everyone["districts_missing"] == [] and everyone["policy"] == "all 3 pilot districts"


def test_a_sink_run_publishes_every_district_or_the_one_its_key_names():
    assert sink_districts(None, PILOTS) == PILOTS
    assert sink_districts("all", PILOTS) == PILOTS
    assert sink_districts("500103", PILOTS) == ["500103"]
    with pytest.raises(PartitionError, match="'500199' is neither 'all' nor a pilot"):
        sink_districts("500199", PILOTS)


def test_an_ingest_run_is_keyed_by_a_real_delivery_date():
    assert delivery_date(None) is None
    assert delivery_date("2026-11-20") == "2026-11-20"
    for bad in ("2026-02-30", "20261120", "2026-11-20T06:30:00", "all"):
        with pytest.raises(PartitionError, match="is not a delivery date"):
            delivery_date(bad)


def test_an_ingest_event_carries_each_files_delivery_date():
    from tierflow.clock import today
    from tierflow.tasks import delivery_dates

    landing = "/srv/landing/samr/enterprise"
    files = [f"{landing}/2026-11-21/b.csv", f"{landing}/2026-11-20/a.csv", "/tmp/by-hand/c.csv"]
    assert delivery_dates(files) == ["2026-11-20", "2026-11-21"]
    assert delivery_dates(files, "2026-11-19") == ["2026-11-20", "2026-11-21"]
    # a file outside a dated folder: the run's own date, else today's (Asia/Shanghai)
    assert delivery_dates(["/tmp/by-hand/c.csv"], "2026-11-19") == ["2026-11-19"]
    assert delivery_dates(["/tmp/by-hand/c.csv"]) == [today().isoformat()]


def test_a_run_keyed_all_is_superseded_only_by_queued_asset_triggered_runs():
    queued = ["manual__2026-12-01T09:00:00+00:00", "asset_triggered__2026-12-01T08:00:00+00:00_x"]
    assert superseded_by("all", queued) == [queued[1]]
    assert superseded_by(None, queued) == [queued[1]]  # a run without a key: every district
    # an operator's queued run may be keyed by one district: it covers no other
    assert superseded_by("all", queued[:1]) == []
    assert superseded_by("all", []) == []
    # an operator's run for one district was asked for: never skipped
    assert superseded_by("500103", queued) == []


def test_only_other_runs_whose_first_task_has_not_run_are_waiting():
    states = {
        "ours": {"newest_run": "running"},
        "queued": {"newest_run": None},
        "scheduled": {"newest_run": "scheduled"},
        "done": {"newest_run": "success"},
        "skipped": {"newest_run": "skipped"},
        "other_task_only": {"load_thematic": None},  # a run from before the first task existed
    }
    assert not_started(states, "newest_run", "ours") == ["queued", "scheduled"]
    assert not_started({"ours": {"newest_run": None}}, "newest_run", "ours") == []
