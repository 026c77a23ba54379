"""Run ids are checked, never silently rewritten; unknown districts are one-line errors."""

from __future__ import annotations

import datetime as dt

import pytest

from tierflow.run_ids import BadRunId, default_run_id, safe_run_id

NOW = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("run_id", "folder"),
    [
        ("base", "base"),
        ("20261201T093000Z", "20261201T093000Z"),
        ("manual__2026-12-01T09:29:59.123456+00:00", "manual__2026-12-01T09_29_59.123456_00_00"),
        ("scheduled__2026-11-30T00:00:00+00:00", "scheduled__2026-11-30T00_00_00_00_00"),
        ("backfill-2026-03-01", "backfill-2026-03-01"),
    ],
)
def test_usable_run_ids_name_their_folder(run_id, folder):
    assert safe_run_id(run_id, NOW) == folder


@pytest.mark.unit
@pytest.mark.parametrize(
    "run_id",
    ["../escape", "a/b", "", ".hidden", "run id", "x" * 129, "a..b", "évènement", "run\x00"],
)
def test_malformed_run_ids_are_refused(run_id):
    with pytest.raises(BadRunId, match="malformed"):
        safe_run_id(run_id, NOW)


@pytest.mark.unit
@pytest.mark.parametrize(
    "run_id", ["20991231T000000Z", "manual__2027-01-01T00:00:00+00:00", "20261201T094500Z"]
)
def test_run_ids_in_the_future_are_refused(run_id):
    with pytest.raises(BadRunId, match="future"):
        safe_run_id(run_id, NOW)


@pytest.mark.unit
def test_impossible_times_and_the_default():
    with pytest.raises(BadRunId, match="impossible"):
        safe_run_id("20261332T000000Z", NOW)
    assert safe_run_id(default_run_id(NOW), NOW) == "20261201T093000Z"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["feeds", "ack", "500155", "base"], "500155 is not a district of the demand list"),
        (["sink", "--run-id", "20991231T000000Z"], "names a time in the future"),
        (["sink", "--run-id", "../escape"], "is malformed"),
        (["sink", "--district", "500155"], "500155 is not a pilot district"),
    ],
)
def test_the_cli_says_what_is_wrong_in_one_line(
    warehouse_url, signing_key, monkeypatch, capsys, argv, message
):
    from tierflow.cli import main

    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", "test-pseudonym-secret")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
