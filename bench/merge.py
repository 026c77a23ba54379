"""Merge of N household rows into library.person, against the floor and the naive peer.

    python -m bench.merge [--rows 1000000] [--naive-sample 100000]

In one run, on a temporary database of the local PostgreSQL server:
- ours: ``ingest_file`` (reported) then ``merge_library('person')`` (the measured step);
- floor: the same rows COPYed into an unlogged table (psycopg COPY fed by pyarrow.csv.write_csv);
- naive peer: pandas ``read_csv`` → ``DataFrame.to_sql`` staging → one ``INSERT … ON CONFLICT``
  per row from Python. From 200k rows on it runs on a sample and is extrapolated linearly.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.common import peak_rss_mib, scratch_database
from tierflow.contracts import catalog
from tierflow.ingest.load import copy_table

NAIVE_FULL_LIMIT = 200_000
HOUSEHOLD_COLUMNS = tuple(c.name for c in catalog().dataset("psb.household").columns)


def floor_copy(engine: sa.Engine, csv_path: Path) -> tuple[float, int]:
    """COPY the delivered rows into an unlogged, index-free table: the cost of moving bytes."""
    import pyarrow as pa
    import pyarrow.csv as pv

    table = pv.read_csv(
        csv_path,
        convert_options=pv.ConvertOptions(
            column_types=dict.fromkeys(HOUSEHOLD_COLUMNS, pa.string())
        ),
    )
    columns = ", ".join(f"{c} text" for c in HOUSEHOLD_COLUMNS)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text(f"create unlogged table bench_floor ({columns})"))
        copy_table(conn, "bench_floor", table)  # the same COPY path ingest uses
    return time.perf_counter() - started, table.num_rows


def naive_peer(engine: sa.Engine, csv_path: Path, sample: int | None) -> tuple[float, int]:
    """pandas → to_sql staging → one upsert statement per row, executed from Python."""
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False, nrows=sample)
    frame.to_sql("bench_naive_stage", engine, if_exists="replace", index=False)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "create table if not exists bench_naive_person (id_number text primary key, name text,"
                " gender text, ethnicity text, birth_date text, division_code text, address text,"
                " status text, updated_at text)"
            )
        )
    upsert = (
        "insert into bench_naive_person values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " on conflict (id_number) do update set name = excluded.name, gender = excluded.gender,"
        " ethnicity = excluded.ethnicity, birth_date = excluded.birth_date,"
        " division_code = excluded.division_code, address = excluded.address,"
        " status = excluded.status, updated_at = excluded.updated_at"
    )
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for row in frame[list(HOUSEHOLD_COLUMNS)].itertuples(index=False):  # the naive way
                cursor.execute(upsert, tuple(row))
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started, len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-sample", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tierflow-bench-merge-"))
    os.environ["TIERFLOW_HOME"] = str(work / "home")
    with scratch_database("tierflow_bench_merge"):
        from tierflow import db
        from tierflow.generate import generate
        from tierflow.ingest.pipeline import ingest_file
        from tierflow.merge.run import merge_library

        engine = db.engine()
        started = time.perf_counter()
        summary = generate(out=work, scale=args.rows, seed=args.seed, datasets=["psb.household"])
        csv_path = Path(summary["files"][0]["path"])
        print(f"generated {args.rows:,} household rows in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        ingested = ingest_file(csv_path, "psb.household", run_gx=False)
        ingest_s = time.perf_counter() - started
        merged = merge_library("person")
        merge_s = merged["seconds"]
        rows = merged["rows_in"]
        again = merge_library("person", full=True)  # every key recomputed, nothing to write

        floor_s, floor_rows = floor_copy(engine, csv_path)
        sample = args.naive_sample if args.rows >= NAIVE_FULL_LIMIT else None
        naive_s, naive_rows = naive_peer(engine, csv_path, sample)
        naive_total = naive_s * rows / naive_rows
        note = f" (run on {naive_rows:,} rows, extrapolated linearly)" if sample else ""

        def line(label: str, seconds: float, count: int) -> str:
            return f"  {label:<34} {seconds:9.2f} s  {count / seconds:12,.0f} rows/s"

        print(f"\nmerge of {rows:,} household rows into library.person")
        print(line("ingest (file → pool, reported)", ingest_s, ingested["rows_in"]))
        print(line("ours: merge_library('person')", merge_s, rows))
        print(line("ours: re-merge, all unchanged", again["seconds"], rows))
        print(line("floor: COPY into unlogged table", floor_s, floor_rows))
        print(line("naive: to_sql + per-row upsert", naive_total, rows) + note)
        print(
            f"  inserted {merged['inserted']:,}, history {merged['history_rows']:,}, "
            f"re-merge unchanged {again['unchanged']:,}"
        )
        print(f"  ratio ours / floor:  {merge_s / floor_s:6.2f}x (merge time over COPY time)")
        print(f"  ratio naive / ours:  {naive_total / merge_s:6.2f}x (ours is this much faster)")
        print(f"  peak RSS: {peak_rss_mib():,.0f} MiB")
        db.engine().dispose()
        db.engine.cache_clear()


if __name__ == "__main__":
    main()
