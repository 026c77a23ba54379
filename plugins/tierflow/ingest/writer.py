"""The write path of one delivery, in one owner: :class:`DeliveryWriter`.

``create`` (a bare partition for the delivery, a quarantine file and stage) → ``copy``
(accepted Arrow batches by binary COPY) and ``quarantine`` (rejected rows and lines, to the
Parquet file and ``quality.quarantine``) → ``finish`` (record the quarantine, build the key
index, supersede keys repeated within the delivery) → ``attach`` (the partition joins the
pool) → after the caller commits, ``publish`` (the quarantine file under its final name).

Everything before ``publish`` runs in the caller's transaction, so a crash anywhere leaves
the pool as before; the quarantine file is written beside its final name and renamed only
after the commit, so a failed ingest leaves no quarantine file behind, and a delivery with
nothing quarantined leaves none at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from tierflow import storage
from tierflow.distribution import distribute_like_parent
from tierflow.faults import checkpoint
from tierflow.ingest.change_hash import change_hash
from tierflow.ingest.load import copy_table
from tierflow.pool import CHANGE_HASH, delivery_partition, pool_table, quote
from tierflow.sql_files import sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from upath import UPath

    from tierflow.contracts import Dataset


def _execute(conn: Connection, name: str, params: dict | None = None, **identifiers: str):
    return conn.execute(sa.text(sql("ingest", name, **identifiers)), params or {})


class DeliveryWriter:
    """Writes one delivery of ``dataset`` (``delivery_id``) inside the caller's transaction."""

    def __init__(
        self, conn: Connection, dataset: Dataset, delivery_id: int, quarantine_file: UPath
    ) -> None:
        self.conn = conn
        self.dataset = dataset
        self.delivery_id = int(delivery_id)
        self.partition = f"pool.{quote(delivery_partition(dataset, self.delivery_id))}"
        self.columns = [c.name for c in dataset.columns]
        self.final_path = quarantine_file
        self.partial_path = quarantine_file.with_suffix(".parquet.partial")
        self.stage = quote(f"quarantine_{self.delivery_id}")
        self.lines_stage: str | None = None
        self.quarantine_schema = pa.schema(
            [(c, pa.string()) for c in self.columns]
            + [("_row_number", pa.int64()), ("_reasons", pa.string()), ("_raw_line", pa.string())]
        )
        self.parquet: pq.ParquetWriter | None = None
        self.accepted = 0
        self.quarantined = 0  # rows and lines
        self.quarantined_lines = 0

    @property
    def _bounds(self) -> dict[str, str]:
        return {"low": str(self.delivery_id), "high": str(self.delivery_id + 1)}

    @property
    def quarantine_file(self) -> UPath | None:
        """Where the quarantined rows will be once published: None when there are none."""
        return self.final_path if self.quarantined else None

    # --- create -----------------------------------------------------------------------------

    def create(self) -> DeliveryWriter:
        """The delivery's bare partition, its quarantine stage and (partial) quarantine file.

        COPY into a table without indexes runs about four times faster than into the keyed
        pool (a random-order btree insert per row); the key index is built once, sorted, in
        :meth:`finish`, and any other index of the pool when :meth:`attach` attaches it.
        """
        _execute(
            self.conn,
            "delivery_partition_create.sql",
            partition=self.partition,
            pool=pool_table(self.dataset),
            **self._bounds,
        )
        distribute_like_parent(self.conn, self.partition, pool_table(self.dataset))
        columns = ", ".join(f"{quote(c)} text" for c in self.columns)
        _execute(self.conn, "quarantine_stage.sql", stage=self.stage, columns=columns)
        storage.mkdirs(self.final_path.parent)
        fs, where = storage.arrow(self.partial_path)  # streamed: on S3 a multipart upload
        self.parquet = pq.ParquetWriter(where, self.quarantine_schema, filesystem=fs)
        return self

    # --- copy and quarantine ----------------------------------------------------------------

    def copy(self, accepted: pa.Table) -> None:
        """COPY a batch of accepted rows (``_row_number`` first) into the partition, tagged
        with the delivery and each row's change hash over the data columns (what the merge
        compares to skip unchanged keys): no staging table, no second pass over the rows."""
        tagged = accepted.add_column(
            0,
            "_delivery_id",
            pa.array(np.full(accepted.num_rows, self.delivery_id, dtype=np.int64)),
        ).append_column(CHANGE_HASH, change_hash(accepted, self.columns))
        # freeze: the partition was created in this transaction, so its rows can be written
        # frozen and the first reader does not rewrite every page to set hint bits
        copy_table(self.conn, self.partition, tagged, freeze=True)
        checkpoint("ingest.after_batch")
        self.accepted += accepted.num_rows

    def quarantine(self, raw: pa.Table, row_numbers: np.ndarray, reasons: pa.Array) -> None:
        """Rows as delivered, with their reasons: to the file as they are, to the database
        with NUL bytes spelled out (PostgreSQL text cannot hold them)."""
        n = raw.num_rows
        text = [raw.column(c).cast(pa.string()) for c in self.columns]
        numbers = pa.array(row_numbers, pa.int64())
        self._parquet().write_table(
            pa.table(
                [*text, numbers, reasons, pa.nulls(n, pa.string())], schema=self.quarantine_schema
            )
        )
        staged = pa.table(
            [numbers, reasons, *(_without_nul(t) for t in text)],
            names=["_row_number", "_reasons", *self.columns],
        )
        copy_table(self.conn, self.stage, staged)
        self.quarantined += n

    def quarantine_lines(self, row_numbers: np.ndarray, reasons: pa.Array, lines: pa.Array) -> None:
        """Lines that could not be split into fields: kept whole, raw jsonb ``{"_line": text}``."""
        n = len(lines)
        numbers = pa.array(row_numbers, pa.int64())
        nulls = [pa.nulls(n, pa.string()) for _ in self.columns]
        self._parquet().write_table(
            pa.table([*nulls, numbers, reasons, lines], schema=self.quarantine_schema)
        )
        if self.lines_stage is None:
            self.lines_stage = quote(f"quarantine_lines_{self.delivery_id}")
            _execute(self.conn, "quarantine_lines_stage.sql", stage=self.lines_stage)
        copy_table(
            self.conn,
            self.lines_stage,
            pa.table([numbers, reasons, lines], names=["_row_number", "_reasons", "_line"]),
        )
        self.quarantined += n
        self.quarantined_lines += n

    def _parquet(self) -> pq.ParquetWriter:
        if self.parquet is None:
            raise RuntimeError("DeliveryWriter.create() was not called")
        return self.parquet

    # --- finish and attach ------------------------------------------------------------------

    def finish(self) -> int:
        """Record the quarantine, index the partition, supersede repeated keys; returns how
        many rows were superseded."""
        self._parquet().close()
        if not self.quarantined:
            self.partial_path.unlink(missing_ok=True)
        params = {"delivery_id": self.delivery_id}
        _execute(self.conn, "record_quarantine.sql", params, stage=self.stage)
        if self.lines_stage:
            _execute(self.conn, "record_quarantine_lines.sql", params, stage=self.lines_stage)
        checkpoint("ingest.before_publish")
        key = ", ".join(quote(k) for k in self.dataset.key)
        _execute(self.conn, "delivery_partition_index.sql", partition=self.partition, key=key)
        # Statistics now, not whenever autovacuum comes: the search for repeated keys that
        # follows plans one in-memory hash of the keys with them (without, it guessed 200 keys,
        # spilled and sorted: 1.3 s instead of 0.6 s at 1M rows), and so do the merge's joins.
        _execute(self.conn, "delivery_partition_analyze.sql", partition=self.partition)
        return self._supersede_repeated_keys()

    def _supersede_repeated_keys(self) -> int:
        """Keep the latest row of each key that repeats within the delivery (recorded in
        ``quality.superseded``, removed from the partition).

        All in PostgreSQL, over the indexed partition: memory here stays flat whatever the
        delivery's size (collecting the keys in Arrow cost ~250 bytes per row at 10M rows).
        """
        keys = [quote(k) for k in self.dataset.key]
        updated_at = self.dataset.updated_at
        order_by = (
            f"pool.{quote(updated_at)} desc nulls last, pool._row_number desc"
            if updated_at
            else "pool._row_number desc"
        )
        row = _execute(
            self.conn,
            "supersede_repeated_keys.sql",
            {"delivery_id": self.delivery_id},
            partition=self.partition,
            plain_keys=", ".join(keys),
            key_columns=", ".join(f"pool.{k}" for k in keys),
            key_join=" and ".join(f"pool.{k} = repeated.{k}" for k in keys),
            order_by=order_by,
        ).one()
        if row.rows_removed != row.rows_superseded:  # the same rows by construction
            raise RuntimeError(
                f"superseded {row.rows_superseded} rows but removed {row.rows_removed}"
            )
        return int(row.rows_superseded)

    def attach(self) -> None:
        _execute(
            self.conn,
            "delivery_partition_attach.sql",
            pool=pool_table(self.dataset),
            partition=self.partition,
            **self._bounds,
        )
        checkpoint("ingest.after_publish")

    # --- after the transaction --------------------------------------------------------------

    def publish(self) -> None:
        """After the commit: the quarantine file under its final name."""
        if self.quarantined:
            _rename_once(self.partial_path, self.final_path)

    def discard(self) -> None:
        """After a failure: no quarantine file left behind."""
        if self.parquet is not None:
            try:
                self.parquet.close()
            except Exception:  # noqa: BLE001 - already closed
                pass
        self.partial_path.unlink(missing_ok=True)


def complete_quarantine_file(path: str | None) -> None:
    """A crash between commit and rename leaves the quarantine file as .partial: finish it."""
    if not path:
        return
    final = storage.path(path)
    partial = final.with_suffix(".parquet.partial")
    if not final.exists() and partial.exists():
        _rename_once(partial, final)


def _rename_once(partial: UPath, final: UPath) -> None:
    """Rename ``partial`` to ``final``; a second ingest of the same file may finish it first
    (between this one's commit and its rename), which is as good. On S3 a rename is a copy
    and a delete: the final object appears whole or not at all."""
    try:
        storage.replace(partial, final)
    except FileNotFoundError:
        if not final.exists():
            raise


def _without_nul(column: pa.Array) -> pa.Array:
    """The text as delivered, NUL bytes spelled out: what PostgreSQL can store of it."""
    if column.null_count == len(column):
        return column
    return pc.replace_substring(column, "\x00", "\\x00")
