"""Merge killed mid-way, and merges/sinks racing other work: never a half-applied state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import SIGNING_KEY
from tierflow.generate import generate
from tierflow.ingest.pipeline import ingest_file

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LIBRARY_STATE = """
select
    (select count(*) from library.person)
    || ':' || (select count(*) from library.person_history)
    || ':' || coalesce((select md5(string_agg(id_number || coalesce(address, '') || valid_from
        || coalesce(valid_to::text, 'open'), ',' order by id_number, valid_from))
        from library.person_history), '-')
    || ':' || coalesce((select md5(string_agg(id_number || changed_at, ',' order by id_number))
        from library.person), '-')
    || ':' || coalesce((select md5(string_agg(id_number || coalesce(name, '') || coalesce(address, '')
        || coalesce(status, ''), ',' order by id_number)) from library.person), '-')
    || ':' || coalesce((select md5(string_agg(dataset || last_delivery_id, ',' order by dataset))
        from library.merge_watermark where library = 'person'), '-')
    || ':' || coalesce((select string_agg(table_name || records, ',' order by table_name)
        from library.record_count), '-')
"""


def _state(warehouse) -> str:
    with warehouse.connect() as conn:
        return conn.scalar(sa.text(LIBRARY_STATE))


def _cli(*args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        TIERFLOW_PSEUDONYM_KEY="reliability-test-secret",
        TIERFLOW_SIGNING_KEY=SIGNING_KEY,
    )
    if kill_at:
        env["TIERFLOW_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "tierflow.cli", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _households(out: Path, seed: int, scale: int = 2000) -> Path:
    summary = generate(
        out=out, scale=scale, seed=seed, defect_rate=0.02, datasets=["psb.household"]
    )
    return Path(summary["files"][0]["path"])


@pytest.mark.parametrize(
    "point", ["merge.after_golden", "merge.after_upsert", "merge.after_advance_watermark"]
)
def test_sigkill_during_merge_leaves_the_library_as_it_was(point, warehouse, data_root, tmp_path):
    ingest_file(
        _households(tmp_path, seed=300 + sum(map(ord, point))), "psb.household", run_gx=False
    )
    before = _state(warehouse)
    killed = _cli("merge", "--library", "person", kill_at=point)
    assert killed.returncode == -9, killed.stderr
    assert _state(warehouse) == before, f"a merge killed at {point} left a partial library"
    rerun = _cli("merge", "--library", "person")
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["inserted"] + result["updated"] > 0
    complete = _state(warehouse)
    again = json.loads(_cli("merge", "--library", "person").stdout)  # nothing left to do
    assert (again["inserted"], again["updated"]) == (0, 0) and _state(warehouse) == complete


def test_a_merge_while_an_ingest_loads_sees_all_of_it_or_none(warehouse, data_root, tmp_path):
    path = _households(tmp_path, seed=411, scale=20000)
    with ThreadPoolExecutor(2) as pool:
        loading = pool.submit(
            lambda: _cli("ingest", str(path), "--dataset", "psb.household", "--no-gx")
        )
        merging = pool.submit(lambda: _cli("merge", "--library", "person"))
        ingest, merge = loading.result(), merging.result()
    assert ingest.returncode == 0 and merge.returncode == 0, ingest.stderr + merge.stderr
    delivery = json.loads(ingest.stdout)["delivery_id"]
    follow_up = json.loads(_cli("merge", "--library", "person").stdout)
    with warehouse.connect() as conn:
        missing = conn.scalar(
            sa.text(
                "select count(*) from (select distinct id_number from pool.psb_household where _delivery_id = :d) p"
                " where not exists (select 1 from library.person l where l.id_number = p.id_number)"
            ),
            {"d": delivery},
        )
    assert missing == 0, "rows of the delivery were lost between the racing merge and the next one"
    assert follow_up["rows_in"] in (
        0,
        json.loads(ingest.stdout)["rows_accepted"] - json.loads(ingest.stdout)["rows_superseded"],
    )


def test_two_sinks_for_one_district_at_once_publish_one_consistent_feed(
    warehouse, data_root, signing_key, tmp_path
):
    from tierflow.merge.run import merge_library
    from tierflow.sink import verify_feed

    ingest_file(_households(tmp_path, seed=512), "psb.household", run_gx=False)
    merge_library("person")
    with ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(lambda _: _cli("sink", "--district", "500103", "--run-id", "race-1"), range(2))
        )
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    feeds = sorted((data_root / "feeds" / "500103").glob("*/race-1"))
    assert feeds and all(verify_feed(f)["ok"] for f in feeds)
    assert not [p for p in (data_root / "feeds" / "500103").rglob(".*") if p.is_dir()]
    with warehouse.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select feed_name, count(*) from feed.run where consumer_id = 'd500103' and run_id = 'race-1' group by 1"
            )
        ).all()
    assert rows and all(n == 1 for _, n in rows), rows


def _increment(first: Path, out: Path) -> Path:
    """A daily increment of ``first``'s library: a tenth of its persons moved (later
    ``updated_at``) plus as many new persons, as the bench's increment case delivers."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.csv as pv

    names = pv.read_csv(first).column_names
    strings = pv.ConvertOptions(column_types={n: pa.string() for n in names})
    known = pv.read_csv(first, convert_options=strings)
    # 2% moved + 2% new: few enough of the library and the pool that the merge looks their rows
    # up by key index (merge.run.LIBRARY_ and POOL_BY_INDEX_BELOW), as into a large library
    moved = known.slice(0, known.num_rows // 50)
    moved = moved.set_column(
        names.index("address"), "address", pa.array([f"moved {i}" for i in range(len(moved))])
    )
    moved = moved.set_column(
        names.index("updated_at"), "updated_at", pa.array(["2026-03-01T08:00:00"] * len(moved))
    )
    other = generate(
        out=out / "new",
        scale=len(moved),
        seed=9,
        defect_rate=0.0,
        as_of=dt.date(2026, 3, 1),
        datasets=["psb.household"],
    )
    new = pv.read_csv(other["files"][0]["path"], convert_options=strings)
    path = out / "increment" / "household.csv"
    path.parent.mkdir(parents=True)
    pv.write_csv(pa.concat_tables([moved, new.select(names)]), path)
    return path


def test_sigkill_during_an_increment_into_a_filled_library_leaves_it_as_it_was(
    warehouse, data_root, tmp_path
):
    import datetime as dt

    first = generate(
        out=tmp_path / "first",
        scale=2000,
        seed=8,
        defect_rate=0.0,
        as_of=dt.date(2026, 2, 28),
        datasets=["psb.household"],
    )
    first_file = Path(first["files"][0]["path"])
    ingest_file(first_file, "psb.household", run_gx=False)
    assert _cli("merge", "--library", "person").returncode == 0
    ingest_file(_increment(first_file, tmp_path), "psb.household", run_gx=False)
    before = _state(warehouse)
    killed = _cli("merge", "--library", "person", kill_at="merge.after_upsert")
    assert killed.returncode == -9, killed.stderr
    assert _state(warehouse) == before, "a killed increment left a partial library"
    result = json.loads(_cli("merge", "--library", "person").stdout)
    assert result["inserted"] > 0 and result["updated"] > 0
    assert result["history_closed"] == result["updated"]
    # the killed merge took the index paths a large library's increment takes
    assert {"person.current_records", "person.update", "person.source_rows:psb.household"} <= set(
        result["lookups_by_index"]
    )
    with warehouse.connect() as conn:
        # the history holds closed versions only: the re-run closed one per update, at the
        # time its record's library row (the current version) changed
        closed = conn.execute(
            sa.text(
                "select count(*), count(*) filter (where hist.valid_from < hist.valid_to)"
                " from library.person_history as hist join library.person as lib"
                " on lib.id_number = hist.id_number and hist.valid_to = lib.changed_at"
                " where lib.changed_at = (select max(changed_at) from library.person)"
            )
        ).one()
        open_versions = conn.scalar(
            sa.text("select count(*) from library.person_history where valid_to is null")
        )
        records = conn.scalar(sa.text("select count(*) from library.person"))
    assert closed == (result["updated"], result["updated"]) and open_versions == 0
    assert result["library_rows"] == records  # the kept count, neither lost nor counted twice
