"""The change hash ingest stores per pool row (``tierflow.ingest.change_hash``)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tierflow.ingest.change_hash import change_hash

pytestmark = pytest.mark.unit

UTC = dt.UTC


def _table(n: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    words = np.array(["", "a", "重庆", "渝北区龙溪街道", "x" * 7, "y" * 8, "z" * 9, "长" * 40])
    return pa.table(
        {
            "id_number": pa.array([f"50011219900101{i:04d}" for i in range(n)]),
            "address": pa.array(words[rng.integers(0, len(words), n)]).cast(pa.string()),
            "count": pa.array(rng.integers(-5, 5, n), pa.int64()),
            "score": pa.array(rng.random(n)),
            "born": pa.array(rng.integers(0, 20000, n).astype("int32")).cast(pa.date32()),
            "updated_at": pa.array(rng.integers(0, 10**15, n), pa.timestamp("us", tz="UTC")),
        }
    )


def _hashes(table: pa.Table) -> np.ndarray:
    return change_hash(table, table.column_names).to_numpy()


def test_the_hash_is_the_rows_values_whatever_the_order_slice_or_chunking():
    table = _table(5_000)
    hashes = _hashes(table)
    order = np.random.default_rng(1).permutation(table.num_rows)
    assert (_hashes(table.take(pa.array(order))) == hashes[order]).all()
    assert (_hashes(table.slice(1_234, 777)) == hashes[1_234:2_011]).all()
    chunked = pa.concat_tables([table.slice(0, 100), table.slice(100, 4_900)])
    assert (_hashes(chunked) == hashes).all()
    # string data buffers that do not start at offset 0 (a slice re-chunked)
    rechunked = pa.table({c: table.column(c).combine_chunks().slice(3) for c in table.column_names})
    assert (_hashes(rechunked) == hashes[3:]).all()
    assert change_hash(table, table.column_names).type == pa.int64()


def test_every_change_of_one_value_changes_the_hash():
    table = _table(2_000)
    base = _hashes(table)
    assert len(np.unique(base)) == table.num_rows  # the ids differ
    for name, changed in {
        "address": pa.array(["渝中区" + (a or "") for a in table.column("address").to_pylist()]),
        "count": pc.add(table.column("count"), 1),
        "score": pc.multiply(table.column("score"), 1.000001),
        "born": pa.array(
            [d + dt.timedelta(days=1) for d in table.column("born").to_pylist()], pa.date32()
        ),
        "updated_at": pa.array(
            [t + dt.timedelta(microseconds=1) for t in table.column("updated_at").to_pylist()],
            pa.timestamp("us", tz="UTC"),
        ),
    }.items():
        other = table.set_column(table.schema.get_field_index(name), name, changed)
        assert (_hashes(other) != base).all(), name


def test_null_empty_and_word_boundaries_are_told_apart():
    values = ["", None, "a", "a ", "abcdefgh", "abcdefg", "abcdefghi", "abcdefgh\x01", "ba", "ab"]
    table = pa.table({"v": pa.array(values, pa.string())})
    assert len(set(_hashes(table))) == len(values)
    numbers = pa.table({"v": pa.array([0, None, 1, -1], pa.int64())})
    assert len(set(_hashes(numbers))) == 4
    # a value moved to the next column is another row
    swapped = pa.table({"a": ["x", ""], "b": ["", "x"]})
    assert len(set(_hashes(swapped))) == 2
    # the columns are hashed in the order given
    two = pa.table({"a": ["p"], "b": ["q"]})
    assert change_hash(two, ["a", "b"]) != change_hash(two, ["b", "a"])


def test_no_collision_among_a_million_similar_rows():
    n = 1_000_000
    table = pa.table(
        {
            "id_number": pa.array(np.char.add("5001121990", np.arange(n).astype(str))),
            "address": pa.array(np.char.add("重庆市渝北区", (np.arange(n) % 997).astype(str))),
        }
    )
    assert len(np.unique(_hashes(table))) == n


def test_the_hash_is_stable_across_releases():
    """Stored hashes are compared with hashes computed later: the function must not drift
    (changing it means bumping HASH_VERSION, see the module). Values pinned at version 1."""
    table = pa.table(
        {
            "id_number": ["500112199001010011", None],
            "address": ["重庆市渝北区龙溪街道", ""],
            "updated_at": pa.array(
                [dt.datetime(2026, 3, 1, 8, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")
            ),
            "count": pa.array([3, None], pa.int64()),
        }
    )
    assert _hashes(table).tolist() == PINNED


PINNED = [-328868703623422023, -5344609645017882439]
