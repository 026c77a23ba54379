"""The chain with its files in an S3 bucket (``TIERFLOW_STORAGE=s3://…``) on a real S3 API
server on loopback (moto's server mode, ``tests.s3``): landing with ``.ready`` markers,
quarantine, Data Docs and feeds in the bucket; feeds verified there and read back with
pyarrow's own S3 client; a killed publish leaves no ``_SUCCESS`` and the re-run completes;
bad URLs, unreachable endpoints and missing buckets are one line, exit 2; the credentials
appear nowhere tierflow writes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest

from tests.conftest import SIGNING_KEY
from tests.s3 import ACCESS_KEY, SECRET_KEY, new_bucket

if TYPE_CHECKING:
    from pathlib import Path

    from tests.s3 import S3

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
AS_OF = dt.date(2026, 3, 1)
DISTRICT = "500103"
SECRET = "s3-test-pseudonym-secret"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tierflow.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _no_credentials(*texts: str) -> None:
    for text in texts:
        assert SECRET_KEY not in text
        assert ACCESS_KEY not in text


def test_the_chain_runs_with_its_files_in_a_bucket(
    s3_storage: S3, warehouse, data_root: Path, monkeypatch
):
    from tierflow.chain import run_chain

    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", SECRET)
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
    made = _cli(
        "generate", "--out", s3_storage.url, "--scale", "400", "--seed", "7",
        "--defect-rate", "0.05", "--as-of", AS_OF.isoformat(),
        "--dataset", "psb.household", "--dataset", "samr.enterprise", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    landed = s3_storage.keys("landing")
    assert len([k for k in landed if k.endswith(".ready")]) == 2
    for key in landed:  # every file has its marker, every marker its file
        assert (key[: -len(".ready")] if key.endswith(".ready") else key + ".ready") in landed

    result = run_chain(f"{s3_storage.url}/landing")
    assert result["landing"] == f"{s3_storage.url}/landing"
    assert result["rows_in"] == result["rows_accepted"] + result["rows_quarantined"]
    assert result["rows_quarantined"] > 0
    quarantined = [r["quarantine"] for r in result["ingested"] if r["quarantine"]]
    assert quarantined and all(q.startswith(f"{s3_storage.url}/quarantine/") for q in quarantined)
    keys = s3_storage.keys()
    for q in quarantined:
        table = pq.read_table(q.removeprefix("s3://"), filesystem=s3_storage.arrow())
        assert table.num_rows > 0 and "_reasons" in table.column_names
    assert not [k for k in keys if k.endswith(".partial")]
    assert "docs/data_docs/index.html" in keys  # Data Docs published in the bucket
    # nothing of landing, quarantine or feeds on the local disk; the database stays local
    assert not [p for p in ("landing", "quarantine", "feeds") if (data_root / p).exists()]

    done = sorted(k for k in keys if k.startswith("feeds/") and k.endswith("/_SUCCESS"))
    assert done, "no feed published"
    feed = f"{s3_storage.url}/{done[0].removesuffix('/_SUCCESS')}"
    checked = _cli("feeds", "verify", feed, "--json")
    assert checked.returncode == 0, checked.stderr
    verdict = json.loads(checked.stdout)
    assert verdict["ok"] and verdict["path"] == feed
    manifest = json.loads(s3_storage.read(done[0].replace("_SUCCESS", "_manifest.json")))
    rows = 0
    for entry in manifest["files"]:  # read back with pyarrow's own S3 client
        where = f"{feed.removeprefix('s3://')}/{entry['path']}"
        rows += pq.read_table(where, filesystem=s3_storage.arrow()).num_rows
    assert rows == manifest["rows"] == verdict["rows"]
    report = result["aggregate"]["report"]["path"]
    assert report.startswith(f"{s3_storage.url}/reports/national/")

    texts = [json.dumps(result, default=str), made.stdout, made.stderr, checked.stdout]
    texts += [s3_storage.read(k).decode() for k in keys if k.endswith("_manifest.json")]
    texts += [s3_storage.read(k).decode("utf-8", "replace") for k in keys if k.endswith(".html")]
    with warehouse.connect() as conn:
        texts.append(str(conn.exec_driver_sql("select * from quality.delivery").all()))
        texts.append(str(conn.exec_driver_sql("select * from feed.run").all()))
    _no_credentials(*texts)


def _sink(s3: S3, run_id: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {"TIERFLOW_PSEUDONYM_KEY": SECRET, "TIERFLOW_SIGNING_KEY": SIGNING_KEY, **s3.env()}
    if kill_at:
        env["TIERFLOW_KILL_AT"] = kill_at
    return _cli("sink", "--district", DISTRICT, "--run-id", run_id, "--json", env=env)


def _run_objects(s3: S3, run_id: str) -> dict[str, bytes]:
    return {k: s3.read(k) for k in s3.keys(f"feeds/{DISTRICT}") if f"/{run_id}/" in k}


@pytest.mark.parametrize("point", ["sink.after_parts", "sink.before_rename"])
def test_a_killed_publish_leaves_no_success_and_the_rerun_completes(
    point, s3_storage: S3, warehouse, data_root, signing_key
):
    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file
    from tierflow.merge.run import merge_library
    from tierflow.sink import verify_feed

    summary = generate(
        out=s3_storage.url, scale=600, seed=61, defect_rate=0.0, datasets=["psb.household"]
    )
    assert summary["files"][0]["path"].startswith("s3://")
    ingest_file(summary["files"][0]["path"], "psb.household", run_gx=False)
    merge_library("person")
    run_id = f"kill-{point.split('.')[-1].replace('_', '-')}"
    killed = _sink(s3_storage, run_id, kill_at=point)
    assert killed.returncode == -9, killed.stderr
    left = _run_objects(s3_storage, run_id)
    assert left, "the killed run wrote nothing: the crash point was not reached"
    assert not [k for k in left if k.endswith("_SUCCESS")]
    folders = sorted({k.rsplit("/", 1)[0] for k in left})
    for folder in folders:  # what it left is never taken for a feed
        verdict = verify_feed(f"{s3_storage.url}/{folder}")
        assert not verdict["ok"] and any("_SUCCESS missing" in p for p in verdict["problems"])
    rerun = _sink(s3_storage, run_id)
    assert rerun.returncode == 0, rerun.stderr
    first = _run_objects(s3_storage, run_id)
    published = sorted({k.rsplit("/", 1)[0] for k in first if k.endswith("/_SUCCESS")})
    assert published and set(folders) <= set(published)
    assert all(verify_feed(f"{s3_storage.url}/{f}")["ok"] for f in published)
    again = _sink(s3_storage, run_id)  # and once more: the same bytes
    assert again.returncode == 0, again.stderr
    assert _run_objects(s3_storage, run_id) == first
    _no_credentials(killed.stderr, rerun.stdout, rerun.stderr)


def test_bad_storage_is_one_line_and_exit_2(s3_endpoint: str, tmp_path: Path):
    s3 = new_bucket(s3_endpoint)
    base = {k: v for k, v in s3.env().items() if k != "TIERFLOW_STORAGE"}
    closed = "http://127.0.0.1:9"  # discard port: nothing listens
    cases = [
        (["generate", "--out", "s3://", "--scale", "10"], {}, "needs a bucket name"),
        (["generate", "--out", "ftp://x/y", "--scale", "10"], {}, "unsupported storage URL"),
        (["generate", "--out", "s3://no-such-bucket-x/p", "--scale", "10"], {}, "no such bucket"),
        (
            ["generate", "--out", s3.url, "--scale", "10"],
            {"TIERFLOW_S3_ENDPOINT_URL": closed},
            "storage unreachable",
        ),
        (["feeds", "verify", "s3://no-such-bucket-x/f/r"], {}, "no such bucket"),
        (
            ["ingest", "s3://no-such-bucket-x/a.csv", "--dataset", "psb.household"],
            {},
            "no such bucket",
        ),
        (["run", "--landing", tmp_path.as_posix()], {"TIERFLOW_STORAGE": "s3:///x"}, "bucket"),
        (
            ["sink", "--district", DISTRICT],
            {"TIERFLOW_STORAGE": "s3://no-such-bucket-x/t"},
            "no such bucket",
        ),
        (
            ["feeds", "ack", DISTRICT, "some-run"],
            {"TIERFLOW_STORAGE": "s3://no-such-bucket-x/t"},
            "no such bucket",
        ),
        (["feeds", "verify", "s3://user:pw@x/f/r"], {}, "needs a bucket name"),
    ]
    for args, extra, expected in cases:
        done = _cli(*args, env={**base, "TIERFLOW_HOME": str(tmp_path / "home"), **extra})
        assert done.returncode == 2, (args, done.stderr)
        assert expected in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
        _no_credentials(done.stdout, done.stderr)
        assert ":pw@" not in done.stderr
