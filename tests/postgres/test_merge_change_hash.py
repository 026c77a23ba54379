"""The merge leaves out touched keys whose sources' newest rows kept their change hash.

The proof that skipping changes nothing: the same deliveries merged into two databases, one
with the skip and one without (``skip_unchanged=False``), give the same library records,
histories, conflicts and orphan flags, and the same writes at every step.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.conftest import migrated_database
from tests.postgres.test_merge import (
    ENCODINGS,
    LATER,
    deaths,
    ingest,
    load_person_pools,
    read_csv,
    rows,
    scalar,
)
from tierflow import migrate
from tierflow.generate import generate
from tierflow.merge.run import merge_library

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.postgres

WRITES = ("inserted", "updated", "history_rows", "history_closed", "conflicts", "orphans")


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import datetime as dt

    out = tmp_path_factory.mktemp("change-hash-extracts")
    summary = generate(
        out=out,
        scale=1500,
        seed=31,
        defect_rate=0.0,
        as_of=dt.date(2026, 3, 1),
        datasets=["psb.household", "nhc.vital_event", "hrss.social_insurance"],
    )
    return {f["dataset"]: Path(f["path"]) for f in summary["files"]}


def _database() -> Iterator[sa.Engine]:
    with migrated_database("tierflow_changehash") as engine:
        yield engine


@pytest.fixture()
def wh(data_root: Path) -> Iterator[sa.Engine]:
    yield from _database()


@pytest.fixture()
def wh_without_skip(data_root: Path) -> Iterator[sa.Engine]:
    yield from _database()


def state(wh: sa.Engine) -> dict[str, list]:
    """Everything a merge writes, without the wall-clock times (two databases, two clocks)."""
    return {
        "person": rows(
            wh,
            "select to_jsonb(p) - 'created_at' - 'changed_at' as r"
            " from library.person as p order by id_number",
        ),
        "history": rows(
            wh,
            "select to_jsonb(h) - 'valid_from' - 'valid_to' - 'created_at' - 'changed_at'"
            " || jsonb_build_object("
            " 'open', valid_to is null,"
            " 'version', row_number() over (partition by id_number order by valid_from)) as r"
            " from library.person_history as h order by id_number, valid_from",
        ),
        "conflict": rows(
            wh,
            "select library, key, field, kept_value, kept_source, other_value, other_source"
            " from quality.conflict order by 1, 2, 3, 4, 5, 6, 7",
        ),
        "orphan": rows(
            wh,
            "select library, key, relation, missing_key, delivery_id from quality.orphan"
            " order by 1, 2, 3",
        ),
    }


def redeliver(frame: pd.DataFrame, root: Path, dataset: str, name: str) -> Path:
    """The same rows in the same order as another file (other bytes: CRLF line ends), in the
    dataset's encoding."""
    department, dataset_name = dataset.split(".")
    path = root / "landing" / department / dataset_name / "2026-03-02" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = ENCODINGS.get(dataset, "utf-8")
    frame.to_csv(path, index=False, lineterminator="\r\n", encoding=encoding)
    return path


def _later_death(extracts: dict[str, Path]) -> tuple[pd.Series, pd.DataFrame]:
    """A dead person whose death event is newer than their household row (the event's
    division code wins by recency), and that household row."""
    household = read_csv(extracts["psb.household"], "psb.household")
    registered_at = household.set_index("id_number").updated_at
    dead = deaths(extracts)
    event = dead[dead.updated_at > dead.id_number.map(registered_at)].iloc[0]
    return event, household[household.id_number == event.id_number]


def _division(wh: sa.Engine, key: str) -> tuple[str, str]:
    row = rows(
        wh,
        "select division_code, library.provenance_detail(provenance) as detail"
        " from library.person where id_number = :k",
        k=key,
    )[0]
    return row["division_code"], row["detail"]["division_code"]["dataset"]


def _deliveries(extracts: dict[str, Path]) -> tuple[list[tuple[str, str, pd.DataFrame]], Any]:
    """Five deliveries after the first load, (name, dataset, rows), and the dead person whose
    division code they move back and forth."""
    household = read_csv(extracts["psb.household"], "psb.household")
    vital = read_csv(extracts["nhc.vital_event"], "nhc.vital_event")
    event, mine = _later_death(extracts)
    other = household[household.id_number != event.id_number]
    moved = other.iloc[:10].assign(address=lambda f: f.address + "一号", updated_at=LATER)
    same = other.iloc[10:30]
    elsewhere = "500103001001" if event.division_code != "500103001001" else "500104001001"
    # (name, dataset, rows): each delivered to both databases, each followed by a merge
    deliveries = [
        ("again", "psb.household", household),  # the same rows, another file
        ("moves", "psb.household", pd.concat([moved, same])),
        # the event keeps winning the division code by recency: the household row is older
        ("older", "psb.household", mine.assign(division_code=elsewhere)),
        # only updated_at changes, to after the event: now the household row wins
        ("touch", "psb.household", mine.assign(division_code=elsewhere, updated_at=LATER)),
        ("events", "nhc.vital_event", vital),
    ]
    return deliveries, (event, elsewhere)


def test_merging_with_and_without_the_skip_gives_the_same_library_and_history(
    wh, wh_without_skip, extracts, data_root
):
    deliveries, (event, elsewhere) = _deliveries(extracts)
    household, moves_rows = deliveries[0][2], deliveries[1][2]
    moved, same = moves_rows.iloc[:10], moves_rows.iloc[10:]  # as _deliveries makes them
    results: dict[str, list[dict]] = {"skip": [], "full": []}
    for mode, engine in (("skip", wh), ("full", wh_without_skip)):
        load_person_pools(engine, extracts)
        results[mode].append(merge_library("person", eng=engine, skip_unchanged=mode == "skip"))
        for name, dataset, frame in deliveries:
            path = redeliver(frame, data_root / mode, dataset, name)
            ingest(engine, path, dataset)
            merged = merge_library("person", eng=engine, skip_unchanged=mode == "skip")
            results[mode].append(merged)
            if name == "older":
                assert _division(engine, event.id_number) == (
                    event.division_code,
                    "nhc.vital_event",
                )
            if name == "touch":
                assert _division(engine, event.id_number) == (elsewhere, "psb.household")

    assert state(wh) == state(wh_without_skip)
    for skipping, recomputing in zip(results["skip"], results["full"], strict=True):
        assert {k: skipping[k] for k in WRITES} == {k: recomputing[k] for k in WRITES}
        assert skipping["touched"] == recomputing["touched"]
        assert skipping["unchanged"] + skipping["skipped"] == (
            recomputing["unchanged"] + recomputing["skipped"]
        )
        assert recomputing["unchanged_by_hash"] == 0
    first, again, moves, older, touch, events = results["skip"]
    assert first["unchanged_by_hash"] == 0  # nothing merged before: every key is new
    # the same file again: every key left out, nothing recomputed, nothing written
    assert again["touched"] == again["unchanged_by_hash"] == household.id_number.nunique()
    assert (again["inserted"], again["updated"], again["history_rows"]) == (0, 0, 0)
    assert moves["unchanged_by_hash"] == len(same) and moves["updated"] == len(moved)
    assert older["unchanged_by_hash"] == 0 and older["updated"] == 0  # recomputed, same record
    assert touch["unchanged_by_hash"] == 0 and touch["updated"] == 1
    assert events["touched"] == events["unchanged_by_hash"] > 0
    assert scalar(wh, "select count(*) from pool.psb_household where _change_hash is null") == 0


def test_rows_without_a_hash_count_as_changed_and_full_merges_never_skip(wh, extracts, data_root):
    load_person_pools(wh, extracts)
    merge_library("person", eng=wh)
    household = read_csv(extracts["psb.household"], "psb.household")
    with wh.begin() as conn:  # as rows ingested before migration 0012 are
        conn.execute(sa.text("update pool.psb_household set _change_hash = null"))
    path = redeliver(household, data_root, "psb.household", "again")
    ingest(wh, path, "psb.household")
    before = state(wh)
    merged = merge_library("person", eng=wh)
    assert merged["touched"] == household.id_number.nunique()
    assert merged["unchanged_by_hash"] == 0
    assert (merged["inserted"], merged["updated"], merged["history_rows"]) == (0, 0, 0)
    full = merge_library("person", eng=wh, full=True)
    assert full["unchanged_by_hash"] == 0
    assert full["touched"] == full["unchanged"] + full["skipped"] >= household.id_number.nunique()
    assert state(wh) == before


def test_the_migration_adds_the_column_to_existing_pools_and_keeps_their_rows(
    wh, extracts, data_root
):
    loaded = ingest(wh, extracts["psb.household"], "psb.household")
    column = (
        "select count(*) from information_schema.columns where table_schema = 'pool'"
        " and table_name = :t and column_name = '_change_hash'"
    )
    partition = f"psb_household_d{loaded['delivery_id']}"
    migrate.downgrade("0011", eng=wh)
    assert scalar(wh, column, t="psb_household") == scalar(wh, column, t=partition) == 0
    assert scalar(wh, "select count(*) from pool.psb_household") == loaded["rows_accepted"]
    assert migrate.upgrade(eng=wh) == migrate.head()
    assert scalar(wh, column, t="psb_household") == scalar(wh, column, t=partition) == 1
    assert (
        scalar(wh, "select count(*) from pool.psb_household where _change_hash is null")
        == loaded["rows_accepted"]
    )
    # the pool's column order is the one the pool rule gives new pools (the column last)
    last = (
        "select column_name from information_schema.columns where table_schema = 'pool'"
        " and table_name = :t order by ordinal_position desc limit 1"
    )
    assert scalar(wh, last, t="psb_household") == "_change_hash"
    first = merge_library("person", eng=wh)
    assert first["inserted"] == first["touched"] > 0


@pytest.mark.parametrize(("moved_share", "checked"), [(0.9, False), (0.5, True)])
def test_a_probe_of_the_touched_keys_decides_whether_the_hash_check_pays(
    wh, extracts, data_root, monkeypatch, moved_share, checked
):
    """Nearly every key changed: the check would cost a read of the pool and spare little, so
    it is not run (every key recomputed); half unchanged: it runs and leaves them out. The
    records come out the same either way."""
    from tierflow.merge import run

    monkeypatch.setattr(run, "PROBE_KEYS", 100)
    load_person_pools(wh, extracts)
    merge_library("person", eng=wh)
    household = read_csv(extracts["psb.household"], "psb.household").drop_duplicates("id_number")
    cut = int(len(household) * moved_share)
    moved = household.iloc[:cut].assign(address=lambda f: f.address + "二号", updated_at=LATER)
    same = household.iloc[cut:]
    path = redeliver(pd.concat([moved, same]), data_root, "psb.household", "mixed")
    ingest(wh, path, "psb.household")
    merged = merge_library("person", eng=wh)
    assert merged["touched"] == len(household) > run.PROBE_KEYS
    assert merged["unchanged_by_hash"] == (len(same) if checked else 0)
    assert merged["updated"] == len(moved)
    assert merged["unchanged"] + merged["skipped"] == len(same)


def test_index_lookups_and_hash_joins_give_the_same_library_and_history(
    wh, wh_without_skip, extracts, data_root, monkeypatch
):
    """Every statement that can look the touched keys up by index (merge.run's
    LIBRARY_BY_INDEX_BELOW and POOL_BY_INDEX_BELOW) made to, in one database, and never, in
    the other: the same merges, the same state."""
    from tierflow.merge import run

    deliveries, _ = _deliveries(extracts)
    results: dict[str, list[dict]] = {"index": [], "hash": []}
    for mode, engine in (("index", wh), ("hash", wh_without_skip)):
        for share in ("LIBRARY_BY_INDEX_BELOW", "POOL_BY_INDEX_BELOW"):
            monkeypatch.setattr(run, share, float("inf") if mode == "index" else 0.0)
        load_person_pools(engine, extracts)
        for name, dataset, frame in [("first", None, None), *deliveries]:
            if dataset is not None:
                ingest(engine, redeliver(frame, data_root / mode, dataset, name), dataset)
            results[mode].append(merge_library("person", eng=engine))
    assert state(wh) == state(wh_without_skip)
    for by_index, by_hash in zip(results["index"], results["hash"], strict=True):
        assert {k: by_index[k] for k in WRITES} == {k: by_hash[k] for k in WRITES}
        assert by_hash["lookups_by_index"] == []
    # every later merge with keys to recompute took each index path (the first load finds an
    # empty library: nothing to look up there)
    recomputing = [r for r in results["index"][1:] if r["touched"] > r["unchanged_by_hash"]]
    assert len(recomputing) >= 3
    first = results["index"][0]["lookups_by_index"]
    assert all(s.startswith("person.source_rows:") for s in first)
    assert "person.source_rows:psb.household" in first
    for merged in recomputing:
        assert {"person.current_records", "person.update"} <= set(merged["lookups_by_index"])
        assert any(s.startswith("person.source_rows:") for s in merged["lookups_by_index"])
