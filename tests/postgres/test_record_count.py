"""The library's record counts are kept by the merge, and always equal the tables' counts.

A merge reports ``library_rows`` from ``library.record_count`` (the count before plus what it
inserted) instead of counting the whole table; these tests hold the kept count to
``count(*)`` through first loads, increments, re-runs, a lost count and a migration round trip.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from tests.conftest import migrated_database
from tests.postgres.test_merge import LIBRARY_TABLES, ingest, scalar
from tierflow import migrate
from tierflow.generate import generate
from tierflow.merge.run import merge_library

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import datetime as dt

    out = tmp_path_factory.mktemp("record-count-extracts")
    summary = generate(
        out=out,
        scale=1200,
        seed=47,
        defect_rate=0.0,
        as_of=dt.date(2026, 3, 1),
        datasets=["psb.household", "samr.enterprise", "lic.issuance"],
    )
    files = {f["dataset"]: Path(f["path"]) for f in summary["files"]}
    more = generate(  # another seed: other persons, delivered the next day
        out=out / "more",
        scale=300,
        seed=48,
        defect_rate=0.0,
        as_of=dt.date(2026, 3, 2),
        datasets=["psb.household"],
    )
    files["more.household"] = Path(more["files"][0]["path"])
    return files


@pytest.fixture()
def wh(data_root: Path) -> Iterator[sa.Engine]:
    with migrated_database("tierflow_record_count") as engine:
        yield engine


def kept_and_counted(wh: sa.Engine) -> tuple[dict[str, int], dict[str, int]]:
    with wh.connect() as conn:
        query = sa.text("select table_name, records from library.record_count")
        kept = {name: records for name, records in conn.execute(query)}
    counted = {t: scalar(wh, f"select count(*) from library.{t}") for t in kept}
    return kept, counted


def test_the_kept_count_is_the_tables_count_through_loads_reruns_and_increments(wh, extracts):
    ingest(wh, extracts["psb.household"], "psb.household")
    first = merge_library("person", eng=wh)
    assert first["library_rows"] == scalar(wh, "select count(*) from library.person") > 0
    again = merge_library("person", eng=wh)  # nothing new: the count stays
    assert again["library_rows"] == first["library_rows"] and again["inserted"] == 0

    more = ingest(wh, extracts["more.household"], "psb.household")  # other persons
    increment = merge_library("person", eng=wh)
    assert increment["inserted"] > 0 and more["rows_accepted"] > 0
    assert increment["library_rows"] == first["library_rows"] + increment["inserted"]
    assert increment["library_rows"] == scalar(wh, "select count(*) from library.person")

    ingest(wh, extracts["samr.enterprise"], "samr.enterprise")
    ingest(wh, extracts["lic.issuance"], "lic.issuance")
    for library in ("legal_entity", "e_license"):
        merge_library(library, eng=wh)
    kept, counted = kept_and_counted(wh)
    assert kept == counted and set(kept) <= set(LIBRARY_TABLES) and len(kept) >= 3


def test_a_lost_count_is_counted_once_by_the_next_merge(wh, extracts):
    ingest(wh, extracts["psb.household"], "psb.household")
    first = merge_library("person", eng=wh)
    with wh.begin() as conn:  # a warehouse whose library schema was emptied by hand, say
        conn.execute(sa.text("delete from library.record_count"))
    again = merge_library("person", eng=wh)
    assert again["library_rows"] == first["library_rows"]
    kept, counted = kept_and_counted(wh)
    assert kept["person"] == counted["person"] == first["library_rows"]


def test_the_migration_round_trip_keeps_the_merge_right(wh, extracts):
    ingest(wh, extracts["psb.household"], "psb.household")
    first = merge_library("person", eng=wh)
    migrate.downgrade("0012", eng=wh)
    assert scalar(wh, "select to_regclass('library.record_count')") is None
    assert migrate.upgrade(eng=wh) == migrate.head()
    assert scalar(wh, "select count(*) from library.record_count") == 0  # counted at next merge
    assert merge_library("person", eng=wh)["library_rows"] == first["library_rows"]
    assert kept_and_counted(wh)[0] == {"person": first["library_rows"]}
