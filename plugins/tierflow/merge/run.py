"""``merge_library``: the pools' new deliveries merged into one foundational library.

One transaction per call, under an advisory lock per library: the watermark is read, the
golden records of the touched keys are recomputed set-based from the latest pool row per
key per source, changed records are upserted with type-2 history, conflicts and orphans are
recorded, and the watermark advances — all committed together or not at all.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tierflow import locks
from tierflow.contracts import catalog
from tierflow.db import engine as default_engine
from tierflow.db import is_citus
from tierflow.errors import TierflowError
from tierflow.faults import checkpoint as crash_point
from tierflow.merge import indexes, record_count, work
from tierflow.merge.plan import STATEMENT_BREAK, UPSERT_STEPS, TablePlan, orphans_resolve, template
from tierflow.merge.survivorship import (
    BOOKKEEPING_COLUMNS,
    LibraryRules,
    SurvivorshipError,
    load_rules,
    references_to,
)
from tierflow.pool import quote

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection, Engine

# The steps of a merge, in order; ``fail_after`` names one of them.
STEPS = (
    "watermark",
    "touched_keys",
    "unchanged_keys",
    "source_rows",
    "current_records",
    "golden",
    "upsert",
    "conflicts",
    "orphans",
    "advance_watermark",
)


class MergeInterrupted(TierflowError):
    """Raised on purpose after a named step (``fail_after``) to prove the merge rolls back."""


def _scalar_row(conn: Connection, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return dict(conn.execute(sa.text(sql), params).mappings().one())


def _count(conn: Connection, table: str) -> int:
    return int(conn.scalar(sa.text(template("count_rows.sql", table=table))))


def _column_types(conn: Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        sa.text(
            "select attname, format_type(atttypid, atttypmod) from pg_attribute"
            " where attrelid = cast(:table as regclass) and attnum > 0 and not attisdropped"
        ),
        {"table": f"library.{table}"},
    ).all()
    return {name: kind for name, kind in rows}


def _check_rules_against_tables(conn: Connection, rules: LibraryRules) -> dict[str, dict[str, str]]:
    """The rule file must cover exactly the golden columns of each library table."""
    types: dict[str, dict[str, str]] = {}
    for table_name, table in rules.tables.items():
        columns = _column_types(conn, table_name)
        expected = set(columns) - BOOKKEEPING_COLUMNS - set(table.key)
        unknown = sorted(set(table.fields) - expected)
        missing = sorted(expected - set(table.fields))
        if unknown or missing or set(table.key) - set(columns):
            raise SurvivorshipError(
                f"{rules.library}.yaml: table library.{table_name}: "
                f"fields without a column {unknown}, columns without a rule {missing}"
            )
        types[table_name] = columns
    return types


# Bytes a new record adds to the indexes of the library table and its history (measured at 1M
# persons: 49 MB + 74 MB for 980,000 records).
INDEX_BYTES_PER_KEY = 128


def _indexes_outgrow_buffers(conn: Connection, plan: TablePlan, rows: int) -> bool:
    """Whether the library's indexes, with ``rows`` more keys, outgrow shared buffers: then
    writing in key order beats writing in hash order."""
    sizes = _scalar_row(
        conn,
        template("index_bytes.sql"),
        {"library": plan.library_table, "history": plan.history_table},
    )
    return int(sizes["index_bytes"]) + rows * INDEX_BYTES_PER_KEY > int(sizes["buffer_bytes"])


# The hash check reads every touched key's pool rows once more; it pays when it leaves out
# enough keys to spare their survivorship (source rows + golden, ~3x the check's cost,
# measured at 400k keys into 2M). A sample of the touched keys decides: a daily increment
# whose keys nearly all changed skips the check; a re-delivery runs it.
PROBE_KEYS = 2_000
HASH_CHECK_PAYS_ABOVE = 0.25  # share of the probed keys the check would leave out
HASH_BUCKETS = 1 << 20  # the probe takes the keys of the lowest buckets (touched_probe.sql)


@contextlib.contextmanager
def _lookups_by_index(conn: Connection, by_index: bool) -> Iterator[None]:
    """Hash and merge joins off for the statements inside, when ``by_index``."""
    if not by_index:
        yield
        return
    conn.execute(sa.text("set local enable_hashjoin = off"))
    conn.execute(sa.text("set local enable_mergejoin = off"))
    yield
    conn.execute(sa.text("reset enable_hashjoin"))
    conn.execute(sa.text("reset enable_mergejoin"))


def _hash_check_pays(
    conn: Connection, plan: TablePlan, touched: int, params: dict[str, Any], like: dict[str, Any]
) -> bool:
    if touched <= PROBE_KEYS:
        return True
    probe = template(
        "touched_probe.sql",
        touched=plan.touched_all,
        key_columns=", ".join(plan.keys),
        keys=str(PROBE_KEYS),
        below=str(max(1, PROBE_KEYS * HASH_BUCKETS // touched)),
    )
    work.create(conn, plan.touched_probe, probe, params, **like)
    probed = _count(conn, plan.touched_probe)
    if probed == 0:
        return True
    count = template("changed_keys_count.sql", changed_keys=plan.changed_keys(plan.touched_probe))
    # a few thousand keys: looked up in the pools' key indexes, where a hash join would scan
    # every pool row to find them (1.7 s at 2.4M pool rows, measured)
    with _lookups_by_index(conn, True):
        changed = conn.scalar(sa.text(count), params)
    return (probed - int(changed)) / probed > HASH_CHECK_PAYS_ABOVE


# Below these shares of a table's rows, the merge finds the recomputed keys' rows in it by key
# index (a nested loop over the keys, in key order) instead of a hash join, whose cost follows
# the whole table: in the library, the current records (current_records.sql, joined by
# golden.sql in the library's place, and read again for the closed versions) and the updates;
# in each source's pool, its rows (source_latest.sql). PostgreSQL 15 has no parallel hash right
# join, so a hash join of 400k keys with a 20M-row library hashes the library. Measured with a
# 400k-key delivery (bench.increment): into a 20M-person library (2% of it) the index path took
# current records + golden 14.6 s where the hash join took 22.4 s, the pool rows 3.4-4.0 s
# against 4.6 s; into 2M persons (20% of the library, 16% of the pool) it lost: 5.2 s against
# 4.1-4.4 s, and 3.0 s against 1.4 s. An index lookup is a random page read once the table
# outgrows the shared buffers; a hash join reads the table once, in order.
LIBRARY_BY_INDEX_BELOW = 0.10
POOL_BY_INDEX_BELOW = 0.05


def _few_of(conn: Connection, table: str, keys: int, below: float) -> bool:
    """``keys`` are few against the rows of ``table``: a library table's kept record count, else
    the planner's estimate (which a library lacks until it is analysed after its first load)."""
    rows = record_count.kept(conn, table) if table.startswith("library.") else None
    if rows is None:
        rows = conn.scalar(sa.text(template("rows_estimate.sql")), {"t": table})
    return bool(rows) and keys < below * float(rows)


def _write(conn: Connection, upsert: str, *, update_by_index: bool = False) -> dict[str, int]:
    """The upsert's steps run in order; each one's count is its command's row count.
    ``update_by_index``: the update finds each changed record by the library's key index (the
    other steps join work tables only, which a hash join suits: no index of theirs to use)."""
    steps = upsert.split(STATEMENT_BREAK)
    written = {}
    for count, step in zip(UPSERT_STEPS, steps, strict=True):
        with _lookups_by_index(conn, update_by_index and count == "updated"):
            written[count] = conn.execute(sa.text(step)).rowcount
    return written


def _merge_table(
    conn: Connection,
    plan: TablePlan,
    bounds: dict[str, tuple[int, int]],
    checkpoint: Any,
) -> dict[str, Any]:
    rule = plan.rule
    params = dict(plan.params)
    for i, alias in enumerate(plan.aliases):
        low, high = bounds[rule.dataset_of(alias)]
        params[f"low_{i}"], params[f"high_{i}"] = low, high
    # The planner cannot estimate the distinct keys of a union (it assumes 200) and would
    # sort a million keys in one process; hashing them in parallel is 3-4x faster.
    like = {"like": plan.library_table, "citus": plan.citus}
    every = plan.touched_all if plan.skip_unchanged else plan.touched
    conn.execute(sa.text("set local enable_sort = off"))
    work.create(conn, every, plan.touched_keys(), params, **like)
    conn.execute(sa.text("reset enable_sort"))
    touched = _count(conn, every)
    conn.execute(sa.text(f"analyze {every}"))
    checkpoint("touched_keys")

    # Keys whose sources' newest rows kept their change hash cannot change: left out here.
    unchanged_by_hash = 0
    if plan.skip_unchanged:
        if _hash_check_pays(conn, plan, touched, params, like):
            work.create(conn, plan.touched, plan.changed_keys(), params, **like)
        else:
            every = template("touched_every.sql", touched=plan.touched_all)
            work.create(conn, plan.touched, every, params, **like)
        unchanged_by_hash = touched - _count(conn, plan.touched)
        conn.execute(sa.text(f"analyze {plan.touched}"))
    checkpoint("unchanged_keys")

    # the keys survivorship recomputes: counted once, when the change-hash step made them
    recomputed = touched - unchanged_by_hash
    by_index: list[str] = []  # the statements that looked the keys up by index
    for i, alias in enumerate(plan.aliases):
        source_params = {**params, "high": params[f"high_{i}"]}
        few = _few_of(conn, plan.pool_table(alias), recomputed, POOL_BY_INDEX_BELOW)
        by_index += [f"source_rows:{alias}"] if few else []
        with _lookups_by_index(conn, few):
            source = plan.source_latest(i, by_index=few)
            work.create(conn, plan.source_table(i), source, source_params, **like)
        conn.execute(sa.text(f"analyze {plan.source_table(i)}"))
    checkpoint("source_rows")

    plan.current_by_index = _few_of(conn, plan.library_table, recomputed, LIBRARY_BY_INDEX_BELOW)
    if plan.current_by_index:
        by_index += ["current_records", "update"]
        with _lookups_by_index(conn, True):
            work.create(conn, plan.current, plan.current_records(), params, **like)
        conn.execute(sa.text(f"analyze {plan.current}"))
    checkpoint("current_records")
    work.create(conn, plan.golden, plan.golden_select(), plan.params, **like)
    golden_rows = _count(conn, plan.golden)
    # The write statements pick insert-only or update plans from how many keys exist.
    conn.execute(sa.text(f"analyze {plan.golden}"))
    checkpoint("golden")

    new_records = conn.scalar(sa.text(template("count_new_records.sql", golden=plan.golden)))
    # New records go to the library only (the history gets the changed records' old rows,
    # never a bulk): a bulk of them sets the library's indexes aside.
    bulk = (
        [plan.library_table]
        if indexes.worth_rebuilding(conn, plan.library_table, new_records)
        else []
    )
    if bulk:
        with indexes.set_aside(conn, bulk):
            written = _write(conn, plan.upsert())
    else:
        key_order = _indexes_outgrow_buffers(conn, plan, golden_rows)
        written = _write(
            conn, plan.upsert(key_order=key_order), update_by_index=plan.current_by_index
        )
    checkpoint("upsert")

    conflicts = 0
    conflict_sql = plan.conflicts()
    if conflict_sql is not None:
        conflicts = _scalar_row(conn, conflict_sql, {**plan.params, "library": plan.library})[
            "logged"
        ]
    checkpoint("conflicts")

    orphans_by_delivery: dict[str, int] = {}
    for reference in rule.references:
        forget, references, flag = plan.orphans(reference)
        ref_params = {
            **plan.params,
            "library": plan.library,
            "relation": reference.relation,
            "column_name": reference.column,
        }
        conn.execute(sa.text(forget), ref_params)
        target = {"like": f"library.{quote(reference.target)}", "citus": plan.citus}
        work.create(conn, plan.references_table(reference), references, ref_params, **target)
        for delivery_id, count in conn.execute(sa.text(flag), ref_params).all():
            key = str(delivery_id)
            orphans_by_delivery[key] = orphans_by_delivery.get(key, 0) + count
    # Records of this table may be what other libraries' orphans were missing.
    for library, reference in references_to(plan.table):
        conn.execute(
            sa.text(orphans_resolve(reference)),
            {"library": library, "relation": reference.relation},
        )
    checkpoint("orphans")
    conn.execute(sa.text(f"drop table if exists {', '.join(plan.work_tables())}"))

    inserted, updated = written["inserted"], written["updated"]
    library_rows = record_count.after_merge(conn, plan.library_table, inserted)
    return {
        "touched": touched,
        "inserted": inserted,
        "updated": updated,
        # records recomputed to the same hash, and keys left out by their change hashes
        "unchanged": golden_rows - inserted - updated + unchanged_by_hash,
        "unchanged_by_hash": unchanged_by_hash,
        "skipped": recomputed - golden_rows,  # keys only enriching sources know, no record made
        "library_rows": library_rows,
        "conflicts": conflicts,
        "orphans": sum(orphans_by_delivery.values()),
        "orphans_by_delivery": orphans_by_delivery,
        # versions the merge made current (now the library rows), and versions it closed
        # (the rows it wrote to the history)
        "history_rows": inserted + updated,
        "history_closed": written["history_closed"],
        "lookups_by_index": [f"{plan.table}.{step}" for step in by_index],
    }


def merge_library(
    library: str,
    *,
    eng: Engine | None = None,
    fail_after: str | None = None,
    full: bool = False,
    skip_unchanged: bool = True,
) -> dict[str, Any]:
    """Merge the deliveries not merged yet into ``library``; returns the counts (design §8).

    ``full=True`` recomputes every key in the pools (after a rule change); the result is
    still a no-op for records whose golden fields do not change, and never skips a key.
    ``skip_unchanged`` (default) leaves out touched keys whose every source's newest row kept
    its change hash (they cannot change); False recomputes them too (the proof that skipping
    changes nothing, and benches). ``fail_after`` raises
    MergeInterrupted after the named step (one of STEPS), inside the transaction.
    """
    if fail_after is not None and fail_after not in STEPS:
        raise ValueError(f"fail_after must be one of {', '.join(STEPS)}, got {fail_after!r}")
    rules = load_rules(library)
    cat = catalog()
    eng = eng or default_engine()
    started = time.perf_counter()
    # Seconds per step, summed over the library's tables: where a slow merge spends its time.
    step_seconds = dict.fromkeys(STEPS, 0.0)
    step_started = started

    def checkpoint(step: str) -> None:
        nonlocal step_started
        now = time.perf_counter()
        step_seconds[step] += now - step_started
        step_started = now
        crash_point(f"merge.after_{step}")  # SIGKILL / injected-failure tests (tierflow.faults)
        if step == fail_after:
            raise MergeInterrupted(f"merge of {library} interrupted after step {step!r}")

    with eng.begin() as conn:
        # JIT compilation of the wide golden statement costs about a second and saves nothing
        # on these scans; a larger sort memory keeps a million-key merge out of temp files.
        # The work tables are unlogged tables in schema merge_work, created and dropped in
        # this transaction (a crash leaves none): unlike temp tables they are read by parallel
        # workers and live in shared buffers, which took a million-key merge from 23 s to 16 s.
        conn.execute(sa.text("set local jit = off"))
        conn.execute(sa.text("set local work_mem = '256MB'"))
        if is_citus(conn):
            # one connection per worker for the whole transaction: a shard modified over
            # several connections cannot be read again later in it (Citus refuses: "placements
            # that were modified over multiple connections"; seen on a merge's re-run)
            conn.execute(sa.text("set local citus.multi_shard_modify_mode to 'sequential'"))
        locks.hold_for_transaction(conn, locks.merge_lock(library))
        # Wait for in-flight ingests of the feeding datasets (ingest holds this lock until it
        # commits): a delivery id below the high mark read next can then no longer appear.
        for dataset in rules.datasets:
            locks.wait_for(conn, locks.ingest_lock(dataset))
        column_types = _check_rules_against_tables(conn, rules)
        bounds = {
            row["dataset"]: (0 if full else row["low"], row["high"])
            for row in conn.execute(
                sa.text(template("watermark_read.sql")),
                {"library": library, "datasets": list(rules.datasets)},
            ).mappings()
        }
        rows_in = 0
        for dataset, (low, high) in bounds.items():
            new_rows = template(
                "new_rows.sql", pool_table=f"pool.{quote(cat.dataset(dataset).table_name)}"
            )
            rows_in += conn.scalar(sa.text(new_rows), {"low": low, "high": high})
        checkpoint("watermark")

        tables: dict[str, dict[str, Any]] = {}
        citus = is_citus(conn)
        # Before a library's first merge no key has a merged row, so every touched key counts
        # as changed (changed_keys.sql): the check could leave none out (0.4 s of a 1M first
        # load, 2.9 s of a 10M one, measured)
        merged_before = any(low > 0 for low, _high in bounds.values())
        for table_name, rule in rules.tables.items():
            plan = TablePlan(
                library,
                table_name,
                rule,
                column_types[table_name],
                cat,
                citus,
                skip_unchanged=skip_unchanged and not full and merged_before,
            )
            tables[table_name] = _merge_table(conn, plan, bounds, checkpoint)

        for dataset, (_low, high) in bounds.items():
            conn.execute(
                sa.text(template("watermark_advance.sql")),
                {"library": library, "dataset": dataset, "high": high},
            )
        checkpoint("advance_watermark")

    result: dict[str, Any] = {"library": library, "rows_in": rows_in}
    for name in (
        "inserted",
        "updated",
        "unchanged",
        "unchanged_by_hash",
        "skipped",
        "library_rows",
        "conflicts",
        "orphans",
        "history_rows",
        "history_closed",
        "touched",
    ):
        result[name] = sum(t[name] for t in tables.values())
    by_delivery: dict[str, int] = {}
    for t in tables.values():
        for delivery_id, count in t["orphans_by_delivery"].items():
            by_delivery[delivery_id] = by_delivery.get(delivery_id, 0) + count
    result["orphans_by_delivery"] = by_delivery
    result["lookups_by_index"] = [step for t in tables.values() for step in t["lookups_by_index"]]
    result["deliveries"] = {d: {"from": low, "to": high} for d, (low, high) in bounds.items()}
    if len(tables) > 1:
        result["tables"] = tables
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["step_seconds"] = {step: round(seconds, 3) for step, seconds in step_seconds.items()}
    return result
