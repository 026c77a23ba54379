"""Ingest one delivered file: read → normalise/parse → check → quarantine → pool.

One transaction per delivery, serialised per dataset by an advisory lock: either the whole
delivery is in the pool with its quality records, or nothing is (a rejected file leaves
only its ``rejected`` audit row). Invariant everywhere: ``rows_in = accepted + quarantined``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tierflow import config, locks
from tierflow.checks.rules import (
    NUL_TYPE,
    PARSE_TYPE,
    RAGGED_TYPE,
    Rule,
    RuleContext,
    evaluate_with_reasons,
    rules_for,
)
from tierflow.contracts import Catalog, Dataset, Severity, catalog
from tierflow.db import engine as default_engine
from tierflow.divisions import official_township_prefixes
from tierflow.faults import checkpoint
from tierflow.ingest import load
from tierflow.ingest.ahead import read_ahead
from tierflow.ingest.parse import parse_batch
from tierflow.ingest.readers import DeliveryRejected, RawBatch, open_delivery
from tierflow.pool import (
    attach_delivery_partition,
    create_delivery_partition,
    ensure_pool_table,
    index_delivery_partition,
)
from tierflow.settings import settings

log = logging.getLogger(__name__)
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class RuleTally:
    rule_id: str
    expectation_type: str
    column: str | None
    severity: Severity
    evaluated: int = 0
    failed: int = 0


@dataclass
class Tally:
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    warned: int = 0
    normalised: int = 0
    rules: dict[str, RuleTally] = field(default_factory=dict)

    def count(
        self,
        rule_id: str,
        expectation_type: str,
        column: str | None,
        severity: Severity,
        evaluated: int,
        failed: int,
    ) -> None:
        entry = self.rules.setdefault(
            rule_id, RuleTally(rule_id, expectation_type, column, severity)
        )
        entry.evaluated += evaluated
        entry.failed += failed


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def delivery_date_of(path: Path) -> dt.date | None:
    """``landing/<department>/<dataset>/<YYYY-MM-DD>/<file>``: the folder names the delivery date."""
    name = path.parent.name
    return dt.date.fromisoformat(name) if _DATE_DIR.match(name) else None


def _reasons(fail_masks: list[tuple[str, np.ndarray]], rows: np.ndarray) -> pa.Array:
    """'; '-joined reasons (rule ids, or rule id + fault) per selected row, vectorised per reason."""
    reasons = pa.array([""] * int(rows.sum()), pa.string())
    for rule_id, mask in fail_masks:
        selected = mask[rows]
        if selected.any():
            joined = pc.binary_join_element_wise(reasons, pa.scalar(rule_id), "; ")
            reasons = pc.if_else(pa.array(selected), joined, reasons)
    return pc.utf8_ltrim(pc.replace_substring_regex(reasons, r"^; ", ""), characters=" ")


class QuarantineSink:
    """Quarantined rows go to a Parquet file (as delivered + ``_reasons``) and ``quality.quarantine``.

    The Parquet file is written beside its final name and renamed only after the database
    transaction commits, so a failed ingest leaves no quarantine file behind; a delivery with
    nothing quarantined leaves none at all (its ``quarantine`` is null).
    """

    def __init__(
        self, conn: Connection, raw_columns: list[str], delivery_id: int, final_path: Path
    ) -> None:
        self.conn = conn
        self.columns = raw_columns
        self.delivery_id = delivery_id
        self.final_path = final_path
        self.partial_path = final_path.with_suffix(".parquet.partial")
        final_path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = pa.schema(
            [(c, pa.string()) for c in raw_columns]
            + [("_row_number", pa.int64()), ("_reasons", pa.string()), ("_raw_line", pa.string())]
        )
        self.writer = pq.ParquetWriter(self.partial_path, self.schema)
        self.stage = load.create_quarantine_stage(conn, raw_columns, delivery_id)
        self.lines_stage: str | None = None
        self.rows = 0

    @property
    def path(self) -> Path | None:
        """Where the quarantined rows will be once published: None when there are none."""
        return self.final_path if self.rows else None

    def write_rows(self, raw: pa.Table, row_numbers: np.ndarray, reasons: pa.Array) -> None:
        n = raw.num_rows
        self.rows += n
        text = [raw.column(c).cast(pa.string()) for c in self.columns]
        numbers = pa.array(row_numbers, pa.int64())
        self.writer.write_table(
            pa.table([*text, numbers, reasons, pa.nulls(n, pa.string())], schema=self.schema)
        )
        staged = pa.table(
            [numbers, reasons, *(_without_nul(t) for t in text)],
            names=["_row_number", "_reasons", *self.columns],
        )
        load.copy_table(self.conn, self.stage, staged)

    def write_lines(self, row_numbers: np.ndarray, reasons: pa.Array, lines: pa.Array) -> None:
        """Lines that could not be split into fields: kept whole, raw jsonb ``{"_line": text}``."""
        n = len(lines)
        self.rows += n
        numbers = pa.array(row_numbers, pa.int64())
        nulls = [pa.nulls(n, pa.string()) for _ in self.columns]
        self.writer.write_table(pa.table([*nulls, numbers, reasons, lines], schema=self.schema))
        if self.lines_stage is None:
            self.lines_stage = load.quote(f"quarantine_lines_{self.delivery_id}")
            self.conn.execute(
                sa.text(
                    f"create temp table {self.lines_stage} (_row_number bigint, _reasons text, _line text) on commit drop"
                )
            )
        load.copy_table(
            self.conn,
            self.lines_stage,
            pa.table([numbers, reasons, lines], names=["_row_number", "_reasons", "_line"]),
        )

    def finish(self) -> None:
        self.writer.close()
        if not self.rows:
            self.partial_path.unlink(missing_ok=True)
        load.record_quarantine(self.conn, self.stage, self.delivery_id)
        if self.lines_stage:
            statement = load.sql_template("record_quarantine_lines.sql", stage=self.lines_stage)
            self.conn.execute(sa.text(statement), {"delivery_id": self.delivery_id})

    def publish(self) -> None:
        if self.rows:
            _rename_once(self.partial_path, self.final_path)

    def discard(self) -> None:
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001 - already closed
            pass
        self.partial_path.unlink(missing_ok=True)


def _nul_bytes(raw: pa.Table) -> dict[str, np.ndarray]:
    """Per delivered text column holding a NUL byte somewhere: the rows that do (vectorised)."""
    found = {}
    for name in raw.column_names:
        column = raw.column(name)
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            continue
        mask = pc.fill_null(pc.match_substring(column, "\x00"), False)
        if pc.any(mask).as_py():
            found[name] = np.asarray(
                mask.combine_chunks() if hasattr(mask, "combine_chunks") else mask, dtype=bool
            )
    return found


def _without_nul(column: pa.Array) -> pa.Array:
    """The text as delivered, NUL bytes spelled out: what PostgreSQL can store of it."""
    if column.null_count == len(column):
        return column
    return pc.replace_substring(column, "\x00", "\\x00")


def _check_batch(
    batch: RawBatch, dataset: Dataset, rules: list[Rule], ctx: RuleContext, tally: Tally
) -> tuple[pa.Table, np.ndarray, list[tuple[str, np.ndarray]], np.ndarray]:
    """Parse and check one batch; returns (parsed table, blocked mask, failing rule masks, normalised mask)."""
    parsed = parse_batch(batch.table, dataset)
    n = parsed.table.num_rows
    blocked = np.zeros(n, dtype=bool)
    warned = np.zeros(n, dtype=bool)
    failing: list[tuple[str, np.ndarray]] = []
    for column, mask in _nul_bytes(batch.table).items():
        failing.append((f"{column}:nul_byte", mask))
        blocked |= mask
        tally.count(f"{column}:nul_byte", NUL_TYPE, column, Severity.block, n, int(mask.sum()))
    for column, mask in parsed.parse_failures.items():
        failing.append((f"{column}:parse", mask))
        blocked |= mask
    for col in dataset.columns:
        parse_mask = parsed.parse_failures.get(col.name)
        tally.count(
            f"{col.name}:parse",
            PARSE_TYPE,
            col.name,
            Severity.block,
            n,
            int(parse_mask.sum()) if parse_mask is not None else 0,
        )
    id_facts: dict = {}  # per batch: ID-number facts shared by the rules reading that column
    for rule in rules:
        fail, evaluated, reasons = evaluate_with_reasons(rule, parsed.table, ctx, id_facts)
        if rule.kind == "not_null" and rule.columns[0] in parsed.parse_failures:
            fail = (
                fail & ~parsed.parse_failures[rule.columns[0]]
            )  # reported once, as a parse failure
            reasons = [(rule.rule_id, fail)]
        failed = int(fail.sum())
        tally.count(
            rule.rule_id, rule.expectation_type, rule.columns[0], rule.severity, evaluated, failed
        )
        if failed:
            failing.extend(reasons)  # the rule id, or one reason per fault (identifier rules)
            if rule.severity == Severity.block:
                blocked |= fail
            else:
                warned |= fail
    tally.warned += int((warned & ~blocked).sum())
    return parsed.table, blocked, failing, parsed.normalised


_INSERT_DELIVERY = sa.text(
    "insert into quality.delivery (dataset, department, file_path, file_sha256, file_bytes, file_format,"
    " encoding, delivery_date, status, error, finished_at) values (:dataset, :department, :path, :sha,"
    " :size, :fmt, :enc, :date, :status, :error, case when :status = 'loading' then null else now() end)"
    " returning delivery_id"
)


def _insert_delivery(
    conn: Connection,
    dataset: Dataset,
    path: Path,
    sha: str,
    size: int,
    *,
    fmt: str,
    encoding: str | None = None,
    status: str = "loading",
    error: str | None = None,
) -> int:
    """One ``quality.delivery`` row: ``loading`` while a load runs, or a finished ``rejected`` one."""
    values = dict(
        dataset=dataset.id,
        department=dataset.department,
        path=str(path),
        sha=sha,
        size=size,
        fmt=fmt,
        enc=encoding,
        date=delivery_date_of(path),
        status=status,
        error=error,
    )
    return int(conn.execute(_INSERT_DELIVERY, values).scalar_one())


def _record_rejection(
    eng: Engine, dataset: Dataset, path: Path, sha: str, size: int, error: str
) -> None:
    with eng.begin() as conn:
        fmt = path.suffix.lstrip(".") or "unknown"
        _insert_delivery(conn, dataset, path, sha, size, fmt=fmt, status="rejected", error=error)


def _existing(conn: Connection, dataset: Dataset, sha: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            sa.text(
                "select * from quality.delivery where dataset = :d and file_sha256 = :s and status = 'loaded'"
            ),
            {"d": dataset.id, "s": sha},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _finish_quarantine_file(path: str | None) -> None:
    """A crash between commit and rename leaves the quarantine file as .partial: finish it."""
    if not path:
        return
    final = Path(path)
    partial = final.with_suffix(".parquet.partial")
    if not final.exists() and partial.exists():
        _rename_once(partial, final)


def _rename_once(partial: Path, final: Path) -> None:
    """Rename ``partial`` to ``final``; a second ingest of the same file may finish it first
    (between this one's commit and its rename), which is as good."""
    try:
        os.replace(partial, final)
    except FileNotFoundError:
        if not final.exists():
            raise


def _summary(row: dict[str, Any], dataset: Dataset, **extra: Any) -> dict[str, Any]:
    return {
        "dataset": dataset.id,
        "delivery_id": row["delivery_id"],
        "file": row["file_path"],
        "format": row["file_format"],
        "encoding": row["encoding"],
        "rows_in": row["rows_in"],
        "rows_accepted": row["rows_accepted"],
        "rows_quarantined": row["rows_quarantined"],
        "rows_superseded": row["rows_superseded"],
        "rows_warned": row["rows_warned"],
        "rows_normalised": row["rows_normalised"],
        "extra_columns": row["extra_columns"],
        "quarantine": row["quarantine_path"],
        "suite_success": row["suite_success"],
        **extra,
    }


def ingest_file(
    path: Path | str,
    dataset_id: str,
    *,
    eng: Engine | None = None,
    cat: Catalog | None = None,
    now: dt.datetime | None = None,
    run_gx: bool = True,
) -> dict[str, Any]:
    """Ingest one delivered file into ``pool.<dataset>``; returns the delivery's summary (design §8)."""
    cat = cat or catalog()
    dataset = cat.dataset(dataset_id)
    path = Path(path)
    eng = eng or default_engine()
    if not path.is_file():
        raise DeliveryRejected(f"{path}: no such file")
    sha, size = file_digest(path)
    try:
        info, stream = open_delivery(path, dataset)
    except DeliveryRejected as exc:
        _record_rejection(eng, dataset, path, sha, size, str(exc))
        raise
    known = tuple(d.code for d in cat.divisions.divisions)
    rules = rules_for(dataset, known)
    tally = Tally()
    sink: QuarantineSink | None = None
    gx_frames: list[pa.Table] = []
    # GX runs on a second thread: its import (~4 s) overlaps reading and checking, and its
    # validation overlaps the publish, where this thread only waits on PostgreSQL.
    gx_worker = ThreadPoolExecutor(1, thread_name_prefix="tierflow-gx") if run_gx else None
    gx_future: Future[dict[str, Any] | None] | None = None
    try:
        with eng.begin() as conn:
            locks.hold_for_transaction(conn, locks.ingest_lock(dataset.id))
            previous = _existing(conn, dataset, sha)
            if previous is not None:
                _finish_quarantine_file(previous.get("quarantine_path"))
                return _summary(
                    previous, dataset, duplicate_of=previous["delivery_id"], loaded_now=False
                )
            if gx_worker is not None:
                gx_worker.submit(_warm_up_gx)
            ctx = RuleContext(
                known,
                tuple(sorted(official_township_prefixes(conn))),
                now or dt.datetime.now(dt.UTC),
            )
            ensure_pool_table(conn, dataset)
            delivery_id = _insert_delivery(
                conn, dataset, path, sha, size, fmt=info.file_format, encoding=info.encoding
            )
            out = (
                config.quarantine_dir()
                / dataset.id
                / str(delivery_date_of(path) or dt.date.today())
                / f"{delivery_id}-{path.stem}.parquet"
            )
            partition = create_delivery_partition(conn, dataset, delivery_id)
            sink = QuarantineSink(conn, [c.name for c in dataset.columns], delivery_id, out)
            gx_rows = 0
            bad_lines = 0
            # Checked on the read-ahead thread, which touches only the per-rule tallies and the
            # warned count; this thread keeps the row counts.
            checked = ((b, _check_batch(b, dataset, rules, ctx, tally)) for b in stream)
            for batch, (table, blocked, failing, normalised) in read_ahead(checked):
                n = table.num_rows
                tally.rows_in += n + len(batch.bad_lines)
                tally.normalised += int((normalised & ~blocked).sum())
                accepted = table.filter(pa.array(~blocked)).add_column(
                    0, "_row_number", pa.array(batch.row_numbers[~blocked])
                )
                load.copy_accepted(conn, partition, delivery_id, accepted)
                checkpoint("ingest.after_batch")
                tally.accepted += accepted.num_rows
                if blocked.any():
                    sink.write_rows(
                        batch.table.filter(pa.array(blocked)),
                        batch.row_numbers[blocked],
                        _reasons(failing, blocked),
                    )
                    tally.quarantined += int(blocked.sum())
                if batch.bad_lines:  # few by nature: one object per broken line is fine here
                    sink.write_lines(
                        np.array([b.row_number for b in batch.bad_lines], dtype=np.int64),
                        pa.array([b.reason for b in batch.bad_lines], pa.string()),
                        pa.array([b.text for b in batch.bad_lines], pa.string()),
                    )
                    tally.quarantined += len(batch.bad_lines)
                    bad_lines += len(batch.bad_lines)
                if run_gx and gx_rows < settings().gx_sample_rows and n:
                    take = table.slice(0, settings().gx_sample_rows - gx_rows)
                    gx_frames.append(take)
                    gx_rows += take.num_rows
            if info.file_format in ("csv", "jsonl"):
                line_rule = "_row:ragged" if info.file_format == "csv" else "_row:malformed_json"
                tally.count(line_rule, RAGGED_TYPE, None, Severity.block, tally.rows_in, bad_lines)
            if gx_worker is not None:
                gx_future = gx_worker.submit(_run_gx, dataset, gx_frames, ctx, tally.rows_in)
            sink.finish()
            checkpoint("ingest.before_publish")
            index_delivery_partition(conn, dataset, delivery_id)
            superseded = load.supersede_repeated_keys(conn, dataset, partition, delivery_id)
            attach_delivery_partition(conn, dataset, delivery_id)
            checkpoint("ingest.after_publish")
            _store_rule_results(conn, delivery_id, tally)
            suite_success = all(r.failed == 0 for r in tally.rules.values())
            gx_summary = gx_future.result() if gx_future is not None else None
            if (
                tally.rows_in != tally.accepted + tally.quarantined
            ):  # the invariant, checked before commit
                raise RuntimeError(
                    f"row accounting broken: {tally.rows_in} != {tally.accepted} + {tally.quarantined}"
                )
            conn.execute(
                sa.text(
                    "update quality.delivery set status = 'loaded', rows_in = :rows_in, rows_accepted = :acc,"
                    " rows_quarantined = :q, rows_superseded = :sup, rows_warned = :w, rows_normalised = :norm,"
                    " extra_columns = cast(:extra as jsonb), suite_success = :ok, gx_scope = :scope,"
                    " quarantine_path = :qpath, finished_at = now() where delivery_id = :id"
                ),
                dict(
                    rows_in=tally.rows_in,
                    acc=tally.accepted,
                    q=tally.quarantined,
                    sup=superseded,
                    w=tally.warned,
                    norm=tally.normalised,
                    extra=_json(info.extra_columns),
                    ok=suite_success,
                    scope=gx_summary["scope"] if gx_summary else None,
                    qpath=str(sink.path) if sink.path else None,
                    id=delivery_id,
                ),
            )
            row = dict(
                conn.execute(
                    sa.text("select * from quality.delivery where delivery_id = :id"),
                    {"id": delivery_id},
                )
                .mappings()
                .one()
            )
        checkpoint("ingest.after_commit")
        sink.publish()
    except BaseException as exc:
        if sink is not None:
            sink.discard()
        if isinstance(
            exc, DeliveryRejected
        ):  # found mid-file: the load rolled back; keep the audit row
            _record_rejection(eng, dataset, path, sha, size, str(exc))
        raise
    finally:
        if gx_worker is not None:  # done by now unless the load failed: then don't wait for it
            gx_worker.shutdown(wait=False, cancel_futures=True)
    result = _summary(row, dataset, loaded_now=True, missing_optional_columns=info.missing_optional)
    result["expectations"] = [
        {
            "rule_id": r.rule_id,
            "severity": r.severity.value,
            "evaluated": r.evaluated,
            "failed": r.failed,
        }
        for r in tally.rules.values()
        if r.failed
    ]
    if gx_summary:
        result["gx"] = {
            k: gx_summary[k]
            for k in ("suite", "scope", "success", "block_success", "evaluated", "failed")
        }
        _write_data_docs(gx_summary)
    return result


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _store_rule_results(conn: Connection, delivery_id: int, tally: Tally) -> None:
    rows = [
        dict(
            d=delivery_id,
            rule=r.rule_id,
            type=r.expectation_type,
            col=r.column,
            sev=r.severity.value,
            ev=r.evaluated,
            failed=r.failed,
            rate=1.0 if r.evaluated == 0 else 1.0 - r.failed / r.evaluated,
        )
        for r in tally.rules.values()
    ]
    if rows:
        conn.execute(
            sa.text(
                "insert into quality.expectation_result (delivery_id, rule_id, expectation_type, column_name,"
                " severity, evaluated, failed, pass_rate) values (:d, :rule, :type, :col, :sev, :ev, :failed, :rate)"
            ),
            rows,
        )


def _warm_up_gx() -> None:
    from tierflow.checks import suites

    suites.warm_up()


def _run_gx(
    dataset: Dataset, frames: list[pa.Table], ctx: RuleContext, rows_in: int
) -> dict[str, Any] | None:
    """Great Expectations on the first rows of the delivery (all of it when small).

    Row-level quarantine and the exact per-expectation counts come from the vectorised
    masks above; GX validates the same rules on a bounded sample for its own verdict and
    Data Docs (GX on whole multi-million-row frames costs more than the load itself).
    """
    if not frames:
        return None
    from tierflow.checks import suites

    sample = pa.concat_tables(frames)
    result = suites.run_suite(dataset, sample.to_pandas(), township_prefixes=ctx.township_prefixes)
    summary = suites.summarise(result)
    summary["scope"] = "full" if sample.num_rows >= rows_in else f"sample:{sample.num_rows}"
    summary["validation_result"] = result
    return summary


def _write_data_docs(gx_summary: dict[str, Any]) -> None:
    from tierflow.checks import suites

    result = gx_summary.get("validation_result")
    if result is None:
        return
    try:
        suites.build_data_docs(result, config.docs_dir())
    except Exception as exc:  # noqa: BLE001 - docs are a view; the delivery is already safely loaded
        log.warning("GX Data Docs not rendered: %s", exc)
