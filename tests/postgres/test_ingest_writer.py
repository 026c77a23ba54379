"""The write path of one delivery on its own: DeliveryWriter against a real warehouse."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tierflow.contracts import catalog
from tierflow.ingest.writer import DeliveryWriter
from tierflow.pool import ensure_pool_table
from tierflow.quality import ledger
from tierflow.quality.ledger import DeliveredFile, LoadOutcome

pytestmark = pytest.mark.postgres

UTC = dt.UTC


def _accepted(rows: list[tuple[int, str, str, dt.datetime]]) -> pa.Table:
    """Parsed household rows as the checks hand them over: (_row_number, id, address, updated)."""
    n = len(rows)
    return pa.table(
        {
            "_row_number": pa.array([r[0] for r in rows], pa.int64()),
            "id_number": pa.array([r[1] for r in rows], pa.string()),
            "name": pa.array(["张三"] * n, pa.string()),
            "gender": pa.array(["2"] * n, pa.string()),
            "ethnicity": pa.array(["01"] * n, pa.string()),
            "birth_date": pa.array([dt.date(1949, 12, 31)] * n, pa.date32()),
            "division_code": pa.array(["500103001001"] * n, pa.string()),
            "address": pa.array([r[2] for r in rows], pa.string()),
            "status": pa.array(["normal"] * n, pa.string()),
            "updated_at": pa.array([r[3] for r in rows], pa.timestamp("us", tz="UTC")),
        }
    )


def _open(conn: sa.Connection, name: str) -> tuple[int, DeliveredFile]:
    dataset = catalog().dataset("psb.household")
    ensure_pool_table(conn, dataset)
    delivered = DeliveredFile(
        dataset.id,
        dataset.department,
        Path(f"/landing/psb/household/2026-11-21/{name}.csv"),
        hashlib.sha256(name.encode()).hexdigest(),
        1,
        dt.date(2026, 11, 21),
    )
    return ledger.open_delivery(conn, delivered, file_format="csv", encoding="utf-8"), delivered


def _partition_exists(conn: sa.Connection, delivery_id: int) -> bool:
    name = f"pool.psb_household_d{delivery_id}"
    return conn.scalar(sa.text("select to_regclass(:n) is not null"), {"n": name})


def test_a_written_delivery_keeps_the_latest_of_a_repeated_key_and_its_quarantine(
    warehouse, tmp_path
):
    dataset = catalog().dataset("psb.household")
    out = tmp_path / "q" / "delivery.parquet"
    early, late = dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 11, 20, tzinfo=UTC)
    with warehouse.begin() as conn:
        delivery_id, _ = _open(conn, "writer-repeated")
        writer = DeliveryWriter(conn, dataset, delivery_id, out)
        writer.create()
        writer.copy(
            _accepted(
                [
                    (1, "11010519491231002X", "new address", late),
                    (2, "11010519491231002X", "old address", early),
                    (4, "110105194912310021", "other person", early),
                ]
            )
        )
        raw = pa.table({c.name: pa.array(["x\x00y"], pa.string()) for c in dataset.columns})
        writer.quarantine(raw, np.array([3], dtype=np.int64), pa.array(["name:nul_byte"]))
        superseded = writer.finish()
        writer.attach()
        assert not out.exists(), "the quarantine file appears only once the delivery committed"
        ledger.finish_delivery(
            conn,
            delivery_id,
            LoadOutcome(
                4, writer.accepted, writer.quarantined, superseded, 0, 0, [], False, None, out
            ),
        )
    writer.publish()
    assert (superseded, writer.accepted, writer.quarantined) == (1, 3, 1)
    assert pq.read_table(out).column("name").to_pylist() == ["x\x00y"]  # as delivered
    with warehouse.connect() as conn:
        kept = conn.execute(
            sa.text(
                "select id_number, address from pool.psb_household where _delivery_id = :d"
                " order by id_number"
            ),
            {"d": delivery_id},
        ).all()
        stored = conn.scalar(
            sa.text("select raw ->> 'name' from quality.quarantine where delivery_id = :d"),
            {"d": delivery_id},
        )
        lost = conn.scalar(
            sa.text("select row_number from quality.superseded where delivery_id = :d"),
            {"d": delivery_id},
        )
    assert [tuple(r) for r in kept] == [
        ("110105194912310021", "other person"),
        ("11010519491231002X", "new address"),
    ]
    assert stored == "x\\x00y" and lost == 2


def test_a_delivery_that_fails_while_written_leaves_no_partition_and_no_file(warehouse, tmp_path):
    dataset = catalog().dataset("psb.household")
    out = tmp_path / "q" / "failed.parquet"
    writer = None
    with pytest.raises(RuntimeError, match="boom"), warehouse.begin() as conn:
        delivery_id, _ = _open(conn, "writer-failed")
        writer = DeliveryWriter(conn, dataset, delivery_id, out)
        writer.create()
        writer.copy(
            _accepted([(1, "11010519491231002X", "a", dt.datetime(2026, 11, 1, tzinfo=UTC))])
        )
        raw = pa.table({c.name: pa.array(["bad"], pa.string()) for c in dataset.columns})
        writer.quarantine(raw, np.array([2], dtype=np.int64), pa.array(["status:enum"]))
        assert writer.partial_path.exists()
        raise RuntimeError("boom")
    writer.discard()
    with warehouse.connect() as conn:
        assert not _partition_exists(conn, delivery_id)
        assert (
            conn.scalar(
                sa.text("select count(*) from quality.delivery where delivery_id = :d"),
                {"d": delivery_id},
            )
            == 0
        )
    assert not out.exists() and not writer.partial_path.exists()
