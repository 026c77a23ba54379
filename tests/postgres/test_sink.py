"""District feeds end to end: generated extracts → ingest → merge → sink (real PostgreSQL).

Proves: no district receives another's rows (division prefix; GPS by point-in-polygon
against the stored boundaries), negative-list fields are in no file, masking follows the
clearance, a half-written feed is invisible and the re-run completes it, re-runs are
byte-identical, incremental feeds from the acknowledged watermark carry update/delete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest
import shapely
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SIGNING_KEY, create_database, drop_database
from tierflow import migrate
from tierflow.contracts import catalog
from tierflow.masking import consumer_key, pseudonym

if TYPE_CHECKING:
    from collections.abc import Iterator

SECRET = "test-pseudonym-secret"
AS_OF = dt.date(2026, 3, 1)
DATASETS = [
    "psb.household",
    "hrss.social_insurance",
    "samr.enterprise",
    "lic.issuance",
    "mnr.address",
    "mnr.land_parcel",
    "gov.service_case",
    "trans.truck_gps",
]
PILOTS = catalog().divisions.pilot_codes


def build_chain(tmp: Path, scale: int = 800, seed: int = 17) -> sa.Engine:
    """A fresh migrated database holding generated data ingested and merged (the real chain)."""
    name, engine = create_database("tierflow_sink")
    engine.info_name = name  # type: ignore[attr-defined]
    migrate.upgrade(eng=engine)
    run_chain(engine, tmp, scale, seed)
    return engine


def run_chain(engine: sa.Engine, tmp: Path, scale: int = 800, seed: int = 17) -> None:
    """Generated data ingested and merged into a migrated warehouse (the Citus tests run it on
    the cluster too)."""
    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file
    from tierflow.merge.run import merge_library

    summary = generate(
        out=tmp, scale=scale, seed=seed, defect_rate=0.0, as_of=AS_OF, datasets=DATASETS
    )
    for file in summary["files"]:
        ingest_file(Path(file["path"]), file["dataset"], eng=engine, run_gx=False)
    for library in ("person", "legal_entity", "geospatial", "e_license"):
        merge_library(library, eng=engine)


@contextmanager
def sunk_chain(
    tmp_path_factory: pytest.TempPathFactory, name: str = "sink"
) -> Iterator[tuple[sa.Engine, Path]]:
    """A chain's warehouse of its own, and one full sink (run ``base``) into its data root."""
    from tierflow.sink.run import sink

    root = tmp_path_factory.mktemp(f"{name}-home")
    with pytest.MonkeyPatch.context() as env:  # module scope: the monkeypatch fixture is per test
        env.setenv("TIERFLOW_HOME", str(root))
        env.setenv("TIERFLOW_PSEUDONYM_KEY", SECRET)
        env.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
        engine = build_chain(tmp_path_factory.mktemp(f"{name}-extracts"))
        try:
            sink(run_id="base", as_of=AS_OF, eng=engine)
            yield engine, root
        finally:
            engine.dispose()
            drop_database(engine.info_name)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[sa.Engine, Path]]:
    """The chain's warehouse, and one full sink (run ``base``) into a module data root."""
    with sunk_chain(tmp_path_factory) as sunk:
        yield sunk


def feed_dir(root: Path, code: str, feed: str, run_id: str) -> Path:
    return root / "feeds" / code / feed / run_id


def read_feed(path: Path):
    import pyarrow as pa

    parts = sorted(path.glob("part-*.parquet"))
    manifest = json.loads((path / "_manifest.json").read_text(encoding="utf-8"))
    assert parts, f"{path}: a published feed always has a part file"
    table = pa.concat_tables(pq.read_table(p) for p in parts)
    return manifest, table if table.num_rows else None


def digests(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


def assert_same_parts_as_base(root: Path, run_id: str) -> None:
    """Every pilot feed of ``run_id`` has the base run's part files, byte for byte."""
    compared = 0
    for code in PILOTS:
        for feed in (root / "feeds" / code).iterdir():
            parts = {k: v for k, v in digests(feed / run_id).items() if k.endswith(".parquet")}
            base = {k: v for k, v in digests(feed / "base").items() if k.endswith(".parquet")}
            assert parts == base, feed
            compared += len(parts)
    assert compared > len(PILOTS)


def scalar(engine: sa.Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.scalar(sa.text(sql), params)


@pytest.mark.postgres
@pytest.mark.slow
def test_every_pilot_gets_verified_feeds_with_the_contracted_layout(chain):
    from tierflow.sink.verify import verify_feed

    engine, root = chain
    person_rows = 0
    for code in PILOTS:
        feeds = {p.name for p in (root / "feeds" / code).iterdir()}
        assert {
            "person",
            "legal_entity",
            "e_license",
            "address",
            "service_case",
            "truck_gps",
        } <= feeds
        for feed in feeds:
            path = feed_dir(root, code, feed, "base")
            assert (path / "_SUCCESS").exists()
            check = verify_feed(path)
            assert check["ok"], check["problems"]
            manifest, table = read_feed(path)
            assert manifest["division_code"] == code and manifest["run_id"] == "base"
            assert manifest["watermark"]["from"] is None and manifest["watermark"]["to"]
            assert manifest["demand_ids"] and manifest["schema"][:2] == [
                {"name": "op", "type": "string"},
                {"name": "changed_at", "type": "timestamp[us, tz=UTC]"},
            ]
            assert all(len(f["sha256"]) == 64 for f in manifest["files"])
            assert SECRET not in (path / "_manifest.json").read_text(encoding="utf-8")
            if table is not None and feed == "person":
                person_rows += table.num_rows
                assert set(table.column("op").to_pylist()) == {"insert"}
    # only 500105's land-parcel demand existed, and it has expired
    assert not any((root / "feeds" / c / "land_parcel").exists() for c in PILOTS)
    in_pilots = scalar(
        engine,
        "select count(*) from library.person where left(division_code, 6) = any(:c)",
        c=list(PILOTS),
    )
    assert person_rows == in_pilots > 0


@pytest.mark.postgres
@pytest.mark.slow
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    code=st.sampled_from(PILOTS),
    feed=st.sampled_from(["person", "legal_entity", "e_license", "address", "service_case"]),
)
def test_no_district_receives_a_row_of_another(chain, code, feed):
    engine, root = chain
    manifest, table = read_feed(feed_dir(root, code, feed, "base"))
    if table is None:
        return
    prefixes = {c[:6] for c in table.column("division_code").to_pylist()}
    assert prefixes == {code}
    key = manifest["key"][0]
    source = {
        "person": "person",
        "legal_entity": "legal_entity",
        "e_license": "e_license",
        "address": "address",
    }
    if feed in source and key != "id_number" and len(manifest["key"]) == 1:
        # every delivered key is a record of this district in the library
        keys = table.column(key).to_pylist()
        outside = scalar(
            engine,
            f'select count(*) from library.{source[feed]} where "{key}" = any(:k) and left(division_code, 6) <> :d',
            k=keys,
            d=code,
        )
        assert outside == 0


@pytest.mark.postgres
@pytest.mark.slow
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(code=st.sampled_from(PILOTS))
def test_gps_points_lie_inside_the_district_polygon(chain, code):
    engine, root = chain
    _manifest, table = read_feed(feed_dir(root, code, "truck_gps", "base"))
    wkt = scalar(
        engine,
        "select geometry_wkt from library.district_boundary where division_code = :c",
        c=code,
    )
    polygon = shapely.from_wkt(wkt)
    expected = scalar(
        engine, "select count(*) from thematic.truck_gps where district_code = :c", c=code
    )
    if table is None:
        assert expected == 0
        return
    lon = table.column("longitude").to_numpy()
    lat = table.column("latitude").to_numpy()
    assert shapely.intersects_xy(polygon, lon, lat).all()
    assert table.num_rows == expected


@pytest.mark.postgres
@pytest.mark.slow
def test_gps_geofence_is_point_in_polygon_not_nearest_seat(chain):
    """A point nearer another district's seat but inside this polygon belongs to this district."""
    import numpy as np

    from tierflow.sink.geofence import Geofence

    engine, _root = chain
    with engine.connect() as conn:
        fence = Geofence.from_warehouse(conn)
    # a concave test polygon: the seat-nearest rule would get these points wrong
    square = shapely.box(0, 0, 10, 10)
    notch = shapely.box(4, 4, 10, 6)
    fence = Geofence.build({"000001": square.difference(notch), "000002": notch})
    lon = np.array([9.0, 9.0, 1.0, 20.0, 5.0])
    lat = np.array([5.0, 1.0, 5.0, 5.0, 4.0])  # last: on the shared edge → lower code
    assert fence.locate(lon, lat).tolist() == ["000002", "000001", "000001", "", "000001"]


@pytest.mark.postgres
@pytest.mark.slow
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(code=st.sampled_from(PILOTS))
def test_negative_list_fields_appear_in_no_file_and_masking_follows_clearance(chain, code):
    engine, root = chain
    cat = catalog()
    clearance = next(c.clearance for c in cat.demand.consumers if c.division_code == code)
    for feed_path in (root / "feeds" / code).iterdir():
        manifest, table = read_feed(feed_path / "base")
        names = [c["name"] for c in manifest["schema"]]
        assert "ethnicity" not in names and "phone" not in names
        if table is not None:
            assert "ethnicity" not in table.column_names and "phone" not in table.column_names
    manifest, person = read_feed(feed_dir(root, code, "person", "base"))
    if person is None:
        return
    assert (
        manifest["withheld"].get("ethnicity", "").startswith("《个人信息保护法》")
        or code != "500103"
    )
    key = consumer_key(SECRET.encode(), f"d{code}")
    with engine.connect() as conn:
        library = {
            pseudonym(key, r.id_number): r
            for r in conn.execute(
                sa.text("select * from library.person where left(division_code, 6) = :c"),
                {"c": code},
            )
        }
    for row in person.to_pylist():
        truth = library[row["id_number"]]  # the pseudonym is HMAC under the consumer's key
        if clearance >= 3:
            assert row["name"] == truth.name and row["birth_date"] == truth.birth_date
            assert row["address"] == truth.address
        else:
            assert row["name"] == truth.name[0] + "*" * (len(truth.name) - 1)
            assert row["birth_date"] == dt.date(truth.birth_date.year, 1, 1)
            assert truth.address is None or row["address"] == truth.address[:6] + "****"
        assert row["gender"] == truth.gender
    # a legal representative's ID number is a pseudonym under the same key: it joins persons
    _m, entity = read_feed(feed_dir(root, code, "legal_entity", "base"))
    with engine.connect() as conn:
        reps = {
            pseudonym(key, r.legal_rep_id_number)
            for r in conn.execute(
                sa.text(
                    "select legal_rep_id_number from library.legal_entity"
                    " where left(division_code, 6) = :c"
                ),
                {"c": code},
            )
        }
    values = entity.column("legal_rep_id_number").to_pylist() if entity else []
    assert set(values) <= reps and all(re.fullmatch(r"[0-9a-f]{64}", v) for v in values)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_half_written_feed_is_invisible_and_the_re_run_completes_it(chain, monkeypatch):
    from tierflow.sink import publish
    from tierflow.sink.run import sink
    from tierflow.sink.verify import verify_feed

    engine, root = chain

    class Killed(BaseException):
        """Stands for SIGKILL: nothing after it runs, no cleanup handler either."""

    def die(_path):
        raise Killed

    monkeypatch.setattr(publish, "_fsync_dir", die)  # first call: just before the rename
    with pytest.raises(Killed):
        sink("500103", "killed", as_of=AS_OF, eng=engine, workers=1)
    person = root / "feeds" / "500103" / "person"
    visible = [p.name for p in person.iterdir() if not p.name.startswith(".")]
    assert "killed" not in visible
    assert any(p.name.startswith(".killed.tmp-") for p in person.iterdir())
    assert not verify_feed(person / "killed")["ok"]
    monkeypatch.undo()
    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", SECRET)
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
    sink("500103", "killed", as_of=AS_OF, eng=engine)
    assert not [p for p in person.iterdir() if p.name.startswith(".")]
    for feed in (root / "feeds" / "500103").iterdir():
        assert verify_feed(feed / "killed")["ok"]
    # the completed feed holds what an uninterrupted run of the same window writes
    base = read_feed(person / "base")[1]
    assert read_feed(person / "killed")[1].equals(base)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_district_alone_gets_the_same_bytes_as_in_the_all_pilots_run(chain):
    """Districts are extracted together (one statement per batch of districts): a district
    sunk on its own, as the DAG's mapped task does, receives byte-identical part files."""
    from tierflow.sink.run import sink

    engine, root = chain
    for code in ("500103", "500104"):  # clearance 3 and 2: different masks, same statement
        sink(code, "alone", as_of=AS_OF, eng=engine, workers=1)
        for feed in (root / "feeds" / code).iterdir():
            if not (feed / "alone").exists():
                continue
            alone, base = digests(feed / "alone"), digests(feed / "base")
            parts = {k: v for k, v in alone.items() if k.endswith(".parquet")}
            assert parts == {k: v for k, v in base.items() if k.endswith(".parquet")}, feed
            assert read_feed(feed / "alone")[0]["rows"] == read_feed(feed / "base")[0]["rows"]


@pytest.mark.postgres
@pytest.mark.slow
def test_page_ranges_and_spilled_rows_give_the_same_bytes(chain, monkeypatch):
    """A big run reads each source in ranges of pages (several statements in one snapshot)
    and parks rows in spill files: forced here at small scale, every part file must equal
    the base run's, and no spill file may outlive the run."""
    from tierflow.sink import planning, run, runner

    engine, root = chain
    monkeypatch.setattr(planning, "PARALLEL_ABOVE_ROWS", 0)
    monkeypatch.setenv("TIERFLOW_SINK_SPILL_ABOVE_ROWS", "-1")
    seen = []
    extract = runner._extract

    def recording(eng, statement, store, snapshot):
        seen.append((statement.windows[0].plan.name, statement.pages, store.spills))
        return extract(eng, statement, store, snapshot)

    monkeypatch.setattr(runner, "_extract", recording)
    run.sink(run_id="ranges", as_of=AS_OF, eng=engine, workers=3)
    person = [pages for name, pages, _spills in seen if name == "person"]
    assert len(person) > 1 and None not in person, "the person feed was not read in ranges"
    assert person[0][0] == 0 and sorted(p[1] is None for p in person).count(True) == 1
    assert all(spills for _name, _pages, spills in seen)
    assert_same_parts_as_base(root, "ranges")
    assert not list(root.glob(".sink-spill-*")), "spill files left behind"


@pytest.mark.postgres
@pytest.mark.slow
def test_page_ranges_read_one_snapshot_while_a_merge_writes(chain, monkeypatch):
    """Ranges of pages are read by separate statements; a writer committing between them moves
    row versions from early pages to the table's end. Read in one snapshot, every record still
    appears once: the feeds equal the base run's. (With a fresh snapshot per statement, the
    moved rows came out twice: the test was seen failing that way.)"""
    from tierflow.sink import planning, run, runner

    engine, root = chain
    monkeypatch.setattr(planning, "PARALLEL_ABOVE_ROWS", 0)
    extract = runner._extract
    person_ranges: list = []

    def writer_between_ranges(eng, statement, store, snapshot):
        extract(eng, statement, store, snapshot)
        if statement.windows[0].plan.name == "person":
            person_ranges.append(statement.pages)
            if len(person_ranges) == 1:  # after the first range: rewrite every current version
                with engine.begin() as conn:
                    moved = conn.execute(
                        sa.text("update library.person set name = name || ''")
                    ).rowcount
                assert moved > 100

    monkeypatch.setattr(runner, "_extract", writer_between_ranges)
    run.sink(run_id="concurrent", as_of=AS_OF, eng=engine, workers=1)
    assert len(person_ranges) > 1 and person_ranges[0][0] == 0
    assert_same_parts_as_base(root, "concurrent")


@pytest.mark.postgres
def test_copy_out_reports_a_failing_statement_and_leaves_the_connection_usable(chain):
    from psycopg import OperationalError

    from tierflow.sink.copyout import copy_out

    engine, _root = chain
    rows: list[bytes] = []
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        sql = "copy (select g from generate_series(1, 3) as g) to stdout"
        assert copy_out(driver, sql, lambda *block: rows.append(block), block_bytes=4) == 6
        # whole rows, about block_bytes at a time, with where each starts
        assert rows == [(b"1\n2\n", [0, 2]), (b"3\n", [0])]
        with pytest.raises(OperationalError, match="division by zero"):
            copy_out(driver, sql.replace("select g", "select 1 / (g - 2)"), lambda *b: None)
        conn.rollback()
        assert conn.scalar(sa.text("select 7")) == 7

        def failing(*_block):
            raise RuntimeError("the reader failed")

        with pytest.raises(RuntimeError, match="the reader failed"):  # the reader's error wins
            copy_out(driver, sql.replace("3)", "2000000)"), failing, block_bytes=10)
        conn.rollback()
        assert conn.scalar(sa.text("select 8")) == 8


@pytest.mark.unit
def test_spill_files_live_in_a_private_folder_and_killed_runs_folders_go(tmp_path):
    import pyarrow as pa

    from tierflow.sink.spill import PREFIX, STALE_AFTER_SECONDS, RowStore

    old, young = tmp_path / f"{PREFIX}old", tmp_path / f"{PREFIX}young"
    for folder in (old, young):
        folder.mkdir()
        (folder / "500101.person.arrows").write_bytes(b"x")
    aged = os.stat(old).st_mtime - STALE_AFTER_SECONDS - 60
    os.utime(old, (aged, aged))
    store = RowStore(tmp_path)
    assert not old.exists() and young.exists()  # a live run's folder is young
    assert store.directory is not None and store.directory.stat().st_mode & 0o777 == 0o700
    piece = pa.table({"id_number": ["b", "a"]})
    store.add(("500101", "person"), piece)
    store.add(("500101", "person"), piece.slice(1))
    assert pa.concat_tables(store.take(("500101", "person"))).column(0).to_pylist() == [
        "b",
        "a",
        "a",
    ]
    assert store.take(("500101", "person")) == [] and not list(store.directory.iterdir())
    store.close()
    assert not store.directory.exists()


@pytest.mark.postgres
@pytest.mark.slow
def test_feeds_are_in_bytewise_key_order(chain):
    _engine, root = chain
    checked = 0
    for code in PILOTS:
        for feed in (root / "feeds" / code).iterdir():
            manifest, table = read_feed(feed / "base")
            masked = [
                k for k in manifest["key"] if manifest["masking"].get(k, "").startswith("partial")
            ]
            if table is None or masked:
                continue
            keys = [
                tuple(v.encode() if isinstance(v, str) else v for v in key)
                for key in zip(*(table.column(k).to_pylist() for k in manifest["key"]), strict=True)
            ]
            assert keys == sorted(keys), feed
            checked += table.num_rows
    assert checked > 1000


@pytest.mark.unit
def test_pseudonym_order_is_arrows_and_shared_prefixes_fall_back():
    import secrets

    import pyarrow as pa
    import pyarrow.compute as pc

    from tierflow.sink.extract import _hex_order

    values = [secrets.token_hex(32) for _ in range(5000)]
    keys = pa.chunked_array([pa.array(values[:1234]), pa.array(values[1234:])])
    assert _hex_order(keys).to_pylist() == pc.sort_indices(keys).to_pylist()
    tied = pa.chunked_array([pa.array(["0" * 16 + "b" * 48, "0" * 16 + "a" * 48])])
    assert _hex_order(tied) is None  # the first 16 digits do not decide
    assert _hex_order(pa.chunked_array([pa.array(["A" * 64])])) is None
    assert _hex_order(pa.chunked_array([pa.array(["a" * 63])])) is None


def _bump_person(engine: sa.Engine, id_number: str, **changes: str) -> None:
    """A new library version of one person, the way merge writes it (type-2 history: the
    current row closed into the history, then changed in place)."""
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into library.person_history select p.*, p.changed_at, now()"
                " from library.person p where id_number = :i"
            ),
            {"i": id_number},
        )
        conn.execute(
            sa.text(f"update library.person set {sets}, changed_at = now() where id_number = :i"),
            {**changes, "i": id_number},
        )


@pytest.mark.postgres
@pytest.mark.slow
def test_re_runs_are_byte_identical_and_increments_follow_the_acknowledged_watermark(chain):
    from tierflow.sink.ledger import ack_feed
    from tierflow.sink.run import sink

    engine, root = chain
    code, other = "500104", "500106"
    sink(code, "inc1", as_of=AS_OF, eng=engine)
    first = {f.name: digests(f / "inc1") for f in (root / "feeds" / code).iterdir()}
    ack_feed(code, "inc1", eng=engine)
    ack_feed(other, "base", eng=engine)
    with engine.connect() as conn:
        ids = (
            conn.execute(
                sa.text(
                    "select id_number from library.person where left(division_code, 6) = :c order by id_number limit 2"
                ),
                {"c": code},
            )
            .scalars()
            .all()
        )
        away = conn.scalar(
            sa.text(
                "select division_code from library.person where left(division_code, 6) = :c limit 1"
            ),
            {"c": other},
        )
    renamed, moved = ids
    _bump_person(engine, renamed, name="改名")
    _bump_person(engine, moved, division_code=away)

    # the library changed, yet re-running inc1 rewrites exactly the same bytes
    sink(code, "inc1", as_of=AS_OF, eng=engine)
    assert {f.name: digests(f / "inc1") for f in (root / "feeds" / code).iterdir()} == first

    sink(code, "inc2", as_of=AS_OF, eng=engine)
    sink(other, "inc2", as_of=AS_OF, eng=engine)
    key = consumer_key(SECRET.encode(), f"d{code}")
    manifest, changes = read_feed(feed_dir(root, code, "person", "inc2"))
    assert manifest["watermark"]["from"] is not None
    rows = {r["id_number"]: r for r in changes.to_pylist()}
    assert set(rows) == {pseudonym(key, renamed), pseudonym(key, moved)}
    assert rows[pseudonym(key, renamed)]["op"] == "update"
    gone = rows[pseudonym(key, moved)]
    assert gone["op"] == "delete"  # moved out: key only, nothing of its new district
    assert gone["division_code"] is None and gone["name"] is None
    assert manifest["ops"] == {"insert": 0, "update": 1, "delete": 1}
    arrived = read_feed(feed_dir(root, other, "person", "inc2"))[1].to_pylist()
    other_key = consumer_key(SECRET.encode(), f"d{other}")
    assert [(r["id_number"], r["op"]) for r in arrived] == [(pseudonym(other_key, moved), "insert")]
    # unchanged feeds: an empty increment is not published (no folder), the ledger says so
    assert not feed_dir(root, code, "e_license", "inc2").exists()
    assert (
        scalar(
            engine,
            "select status from feed.run where consumer_id = :c and feed_name = 'e_license'"
            " and run_id = 'inc2'",
            c=f"d{code}",
        )
        == "empty"
    )
    sink(code, "inc2", as_of=AS_OF, eng=engine)  # a re-run stays empty
    assert not feed_dir(root, code, "e_license", "inc2").exists()
    # acknowledging takes the empty ones in (nothing to verify), never moves backwards
    acked = ack_feed(code, "inc2", eng=engine)
    assert "e_license" in acked["feeds"] and acked["feeds"]["person"]["moved"]
    assert not ack_feed(code, "inc1", eng=engine)["feeds"]["person"]["moved"]
    # every published feed folder has a part, empty or not: DuckDB reads any glob of them
    import duckdb

    for feed in sorted(p.name for p in (root / "feeds" / code).iterdir()):
        glob = str(root / "feeds" / code / feed / "*" / "*.parquet")
        rows = duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0]
        assert rows == sum(
            json.loads((run / "_manifest.json").read_text())["rows"]
            for run in (root / "feeds" / code / feed).iterdir()
        )


@pytest.mark.postgres
@pytest.mark.slow
def test_verify_catches_tampering_and_the_cli_exits_non_zero(chain, tmp_path):
    import argparse
    import shutil

    from tierflow.errors import TierflowError
    from tierflow.sink import cli

    _engine, root = chain
    copy = feed_dir(tmp_path, "500103", "person", "base")  # where it belongs: its folders' names
    shutil.copytree(feed_dir(root, "500103", "person", "base"), copy)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")

    def add(name, handler, help_text):
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        return p

    cli.register(add, sub)
    args = parser.parse_args(["feeds", "verify", str(copy)])
    assert args.handler(args)["ok"]
    part = next(copy.glob("part-*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(TierflowError, match="SHA-256"):
        args.handler(args)
    (copy / "_SUCCESS").unlink()
    (copy / "part-99999.parquet").write_bytes(b"x")
    from tierflow.sink.verify import verify_feed

    problems = " ".join(verify_feed(copy)["problems"])
    assert "_SUCCESS" in problems and "not in the manifest" in problems
