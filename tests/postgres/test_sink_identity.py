"""The library feeds are byte-identical to the ones the previous storage layout produced.

``feed_digests.json`` holds the sha256 of every file (parts, manifests, signatures) of the
library feeds of a deterministic chain, produced by the code before migration 0010 (the
history then held every record's open version; now it holds closed versions only and the
current one is the library row). The chain: generated data ingested and merged, a first
feed of every pilot, two household deliveries merged (persons renamed, moved to another
district, a record changed twice, new persons), incremental feeds after each (one district
never acknowledges, so it gets first feeds over a library that has closed versions), and a
day of list decisions (purge notices). Merge and sink times come from the server clock, so
the chain pins them: after each merge every time it wrote is set to that step's fixed
instant, and after each sink run its planned times are. The fixture was written by
``feed_digests`` run on commit c6180a5 (the last before 0010; two fresh runs gave the same
digests); rewrite it only for an intended change of the feed format, never to make a change
of the storage pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv
import pytest
import sqlalchemy as sa

from tests.conftest import SIGNING_KEY, create_database, drop_database
from tests.postgres.test_sink import AS_OF, PILOTS, SECRET, run_chain
from tierflow import migrate
from tierflow.contracts import catalog

FIXTURE = Path(__file__).with_name("feed_digests.json")
LIBRARY_FEEDS = ("person", "legal_entity", "address", "land_parcel", "e_license")
STEPS = [dt.datetime(2026, 3, 1, h, tzinfo=dt.UTC) for h in (1, 2, 3, 4)]
NEVER_ACKS = "500104"  # this district's every run is a first feed


def _pin_merge_times(engine: sa.Engine, step: int) -> None:
    """Every merge time written since the previous step becomes STEPS[step]."""
    after = STEPS[step - 1] if step else dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        for table in LIBRARY_FEEDS:
            for name in (table, f"{table}_history"):
                columns = ["created_at", "changed_at"]
                if name.endswith("_history"):
                    columns += ["valid_from", "valid_to"]
                sets = ", ".join(
                    f"{c} = case when {c} > :after then :at else {c} end" for c in columns
                )
                conn.execute(
                    sa.text(f"update library.{name} set {sets}"),
                    {"after": after, "at": STEPS[step]},
                )


def _pin_run_times(engine: sa.Engine, run_id: str, at: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("update feed.run set planned_at = :at where run_id = :r"),
            {"at": at, "r": run_id},
        )


def _delivery(first: Path, out: Path, day: int, moved_to: str) -> Path:
    """Households of ``first`` changed: every 7th renamed (on both days: changed twice), on
    day 1 every 11th moved to district ``moved_to`` and five new persons."""
    from tierflow.generate import generate

    names = pv.read_csv(first).column_names
    strings = pv.ConvertOptions(column_types={n: pa.string() for n in names})
    known = pv.read_csv(first, convert_options=strings).to_pylist()
    rows = []
    for i, row in enumerate(known):
        if i % 7 == 0:
            rows.append({**row, "name": f"{row['name']}{day}"})
        elif i % 11 == 0 and day == 1:
            rows.append({**row, "division_code": moved_to + row["division_code"][6:]})
    if day == 1:
        new = generate(
            out=out / "new",
            scale=5,
            seed=9,
            defect_rate=0.0,
            as_of=AS_OF,
            datasets=["psb.household"],
        )
        rows += pv.read_csv(new["files"][0]["path"], convert_options=strings).to_pylist()
    for row in rows:
        row["updated_at"] = f"2026-03-0{day + 1}T08:00:00"
    path = out / f"day{day}" / "household.csv"
    path.parent.mkdir(parents=True)
    schema = pa.schema([(n, pa.string()) for n in names])
    pv.write_csv(
        pa.Table.from_pylist([{n: r[n] for n in names} for r in rows], schema=schema), path
    )
    return path


def feed_digests(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The deterministic chain (module docstring); sha256 of each library feed file."""
    from tests.postgres.test_sharing_attacks import AFTER, changed_lists
    from tierflow.ingest.pipeline import ingest_file
    from tierflow.merge.run import merge_library
    from tierflow.sink.ledger import ack_feed
    from tierflow.sink.run import sink

    root = tmp / "home"
    monkeypatch.setenv("TIERFLOW_HOME", str(root))
    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", SECRET)
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
    name, engine = create_database("tierflow_identity")
    try:
        migrate.upgrade(eng=engine)
        run_chain(engine, tmp / "extracts", scale=300, seed=23)
        _pin_merge_times(engine, 0)
        households = next((tmp / "extracts").rglob("household*.csv"))

        def run(run_id: str, *, cat=None, as_of=AS_OF, ack: bool = True) -> None:
            sink(run_id=run_id, as_of=as_of, eng=engine, cat=cat)
            _pin_run_times(engine, run_id, STEPS[-1])
            if ack:
                for code in PILOTS:
                    if code != NEVER_ACKS:
                        ack_feed(code, run_id, eng=engine)

        run("first")
        for day in (1, 2):
            path = _delivery(households, tmp, day, moved_to=PILOTS[day])
            ingest_file(path, "psb.household", eng=engine, run_gx=False)
            merge_library("person", eng=engine)
            _pin_merge_times(engine, day)
            run(f"inc{day}")
        run("after", cat=changed_lists(catalog()), as_of=AFTER, ack=False)
        run("after", cat=changed_lists(catalog()), as_of=AFTER, ack=False)  # at pinned times
        with engine.connect() as conn:
            changed_twice = conn.scalar(
                sa.text("select count(*) from library.person where name like '%2'")
            )
        assert changed_twice > 0
    finally:
        engine.dispose()
        drop_database(name)
    return {
        str(p.relative_to(root / "feeds")): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "feeds").rglob("*"))
        if p.is_file() and p.relative_to(root / "feeds").parts[1] in LIBRARY_FEEDS
    }


@pytest.mark.postgres
@pytest.mark.slow
def test_library_feeds_are_byte_identical_to_the_previous_layouts(tmp_path, monkeypatch):
    expected = json.loads(FIXTURE.read_text(encoding="utf-8"))
    got = feed_digests(tmp_path, monkeypatch)
    assert len(expected) > 100 and any("/after/" in k for k in expected)
    assert got == expected
