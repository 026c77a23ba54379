"""``generate()``: the orchestration of one run (design §8 ``tierflow generate``)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tierflow import storage
from tierflow.contracts import Dataset, catalog
from tierflow.generate import entities, persons, services, spatial
from tierflow.generate.cases import age_copies, layout_with_copies, normalise
from tierflow.generate.context import Context
from tierflow.generate.defects import DefectClass, defect_classes, inject
from tierflow.generate.divisions import build_tier
from tierflow.generate.rng import stream
from tierflow.generate.writer import EXTENSIONS, ExtractWriter

if TYPE_CHECKING:
    from pathlib import Path

CHUNK_ROWS = 500_000  # a multiple of the truck track length: chunks hold whole trucks
MIN_ROWS = 20
GROUND_TRUTH = "_ground_truth.parquet"

Builder = Callable[[Context, np.random.Generator, int, int], tuple[dict[str, pa.Array], dict]]
Register = Callable[[Context, dict, np.ndarray, dict[str, pa.Array]], None]


@dataclass(frozen=True)
class Spec:
    build: Builder
    fmt: str
    encoding: str = "utf-8"
    per_household: float = 1.0  # rows per household row (design: proportional to scale)
    needs: tuple[str, ...] = ()  # datasets whose clean keys this one joins to
    register: Register | None = None


SPECS: dict[str, Spec] = {
    "psb.household": Spec(persons.household, "csv", register=persons.register_household),
    "samr.enterprise": Spec(
        entities.enterprise,
        "parquet",
        per_household=1 / 20,
        needs=("psb.household",),
        register=entities.register_entities("samr.enterprise"),
    ),
    "mca.social_org": Spec(
        entities.social_org,
        "csv",
        per_household=1 / 200,
        needs=("psb.household",),
        register=entities.register_entities("mca.social_org"),
    ),
    "nhc.vital_event": Spec(persons.vital_event, "csv", "gb18030", 1 / 50, ("psb.household",)),
    "hrss.social_insurance": Spec(
        persons.social_insurance,
        "csv",
        "utf-8-sig",
        1 / 2,
        ("psb.household", "samr.enterprise", "mca.social_org"),
    ),
    "tax.taxpayer": Spec(
        entities.taxpayer,
        "jsonl",
        per_household=0.8 / 20,
        needs=("samr.enterprise", "mca.social_org"),
    ),
    "mnr.land_parcel": Spec(spatial.land_parcel, "jsonl", per_household=1 / 50),
    "mnr.address": Spec(spatial.address, "parquet", per_household=1 / 10),
    "lic.issuance": Spec(
        services.issuance,
        "csv",
        per_household=1 / 10,
        needs=("psb.household", "samr.enterprise", "mca.social_org"),
    ),
    "gov.service_case": Spec(
        services.service_case,
        "parquet",
        per_household=1 / 5,
        needs=("psb.household", "samr.enterprise", "mca.social_org"),
    ),
    "trans.truck_gps": Spec(spatial.truck_gps, "csv"),
}


def default_as_of() -> dt.date:
    """Yesterday in Asia/Shanghai: the delivery date of a daily extract produced today."""
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() - dt.timedelta(days=1)


def generate(
    out: Path | str,
    scale: int,
    seed: int,
    defect_rate: float = 0.0,
    as_of: dt.date | None = None,
    fmt: str | None = None,
    encoding: str | None = None,
    townships_csv: Path | None = None,
    datasets: list[str] | None = None,
) -> dict:
    """Write deterministic synthetic extracts under ``out/landing`` plus the ground truth.

    Same arguments, same bytes. ``defect_rate`` of each dataset's rows carry exactly
    one defect (a checker rule id); a quarter of that rate again are normalisation
    cases and superseded copies. Returns a JSON-able summary.
    """
    started = time.perf_counter()
    if scale < 1:
        raise ValueError("scale must be at least 1")
    if not 0.0 <= defect_rate <= 0.5:
        raise ValueError("defect_rate must be between 0 and 0.5")
    if fmt is not None and fmt not in EXTENSIONS:
        raise ValueError(f"unknown format {fmt!r} (csv, parquet, jsonl)")
    if encoding is not None and (fmt or "csv") != "csv":
        raise ValueError("encoding applies to CSV only")
    cat = catalog()
    wanted = list(SPECS) if datasets is None else list(dict.fromkeys(datasets))
    for name in wanted:
        if name not in SPECS:
            raise ValueError(f"unknown dataset {name!r} (known: {', '.join(sorted(SPECS))})")
    as_of = as_of or default_as_of()
    ctx = Context(
        seed=seed,
        as_of=as_of,
        catalog=cat,
        tier=build_tier(cat.divisions, townships_csv),
        scale=scale,
    )
    out = storage.path(out)  # a folder or a storage URL (s3://bucket/prefix)
    storage.check(out)
    files, defects, truth = [], {}, []
    for name in _with_dependencies(wanted):
        ds = cat.dataset(name)
        spec = SPECS[name]
        write = name in wanted
        ds_fmt = fmt or spec.fmt
        ds_encoding = (encoding or spec.encoding) if ds_fmt == "csv" else "utf-8"
        rows = _row_count(ctx, name, spec, scale)
        ctx.rows[name] = rows
        path = out / "landing" / ds.department / name.split(".", 1)[1] / as_of.isoformat()
        path = path / f"{name.split('.', 1)[1]}.{EXTENSIONS[ds_fmt]}"
        written, counts, gt = _generate_dataset(
            ctx, ds, spec, rows, defect_rate, path if write else None, ds_fmt, ds_encoding
        )
        if write:
            (path.parent / (path.name + ".ready")).touch()
            cases = pc.value_counts(gt.column("defect")).to_pylist() if gt.num_rows else []
            tally = {c["values"]: c["counts"] for c in cases}
            files.append(
                {
                    "dataset": name,
                    "superseded": tally.get("superseded", 0),
                    "normalised": tally.get("normalised", 0),
                    "path": str(path),
                    "rows": written,
                    "format": ds_fmt,
                    "encoding": ds_encoding if ds_fmt == "csv" else None,
                }
            )
            defects[name] = counts
            truth.append(gt)
    truth_path = out / GROUND_TRUTH
    table = pa.concat_tables(truth) if truth else _empty_truth()
    storage.mkdirs(out)
    fs, where = storage.arrow(truth_path)
    pq.write_table(table, where, compression="zstd", filesystem=fs)
    return {
        "out": str(out),
        "as_of": as_of.isoformat(),
        "seed": seed,
        "scale": scale,
        "defect_rate": defect_rate,
        "files": files,
        "defects": defects,
        "ground_truth": str(truth_path),
        "ground_truth_rows": table.num_rows,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _with_dependencies(wanted: list[str]) -> list[str]:
    """Requested datasets plus the ones they join to, in generation order."""
    needed: set[str] = set()

    def visit(name: str) -> None:
        if name not in needed:
            needed.add(name)
            for dep in SPECS[name].needs:
                visit(dep)

    for name in wanted:
        visit(name)
    return [name for name in SPECS if name in needed]


def _row_count(ctx: Context, name: str, spec: Spec, scale: int) -> int:
    rows = max(MIN_ROWS, int(round(scale * spec.per_household)))
    if name == "tax.taxpayer":  # distinct taxpayers: no more than the clean entities
        rows = min(
            max(MIN_ROWS, int(round(0.8 * ctx.rows.get("samr.enterprise", rows / 0.8)))),
            len(ctx.entity_pool("samr.enterprise", "mca.social_org")),
        )
    if name == "hrss.social_insurance":  # one enrolment per person
        rows = min(rows, ctx.persons.bodies.size)
    return rows


def _empty_truth() -> pa.Table:
    return pa.table(
        {
            "dataset": pa.array([], pa.string()),
            "row_number": pa.array([], pa.int64()),
            "key": pa.array([], pa.string()),
            "defect": pa.array([], pa.string()),
            "severity": pa.array([], pa.string()),
        }
    )


def _share(rate: float, start: int, end: int, minimum_first: bool) -> int:
    """Rows of [start, end) getting a case at ``rate``: exact over the whole dataset."""
    count = int(round(rate * end)) - int(round(rate * start))
    if minimum_first and start == 0 and rate > 0 and int(round(rate * end)) == 0:
        count = 1
    return count


def _generate_dataset(
    ctx: Context,
    ds: Dataset,
    spec: Spec,
    rows: int,
    rate: float,
    path: Path | None,
    fmt: str,
    encoding: str,
) -> tuple[int, dict[str, int], pa.Table]:
    classes = defect_classes(ds, fmt)
    writer = ExtractWriter(path, ds, fmt, encoding) if path is not None else None
    truth: list[pa.Table] = []
    counts: dict[str, int] = {}
    written = 0
    class_offset = 0
    try:
        for chunk, start in enumerate(range(0, rows, CHUNK_ROWS)):
            n = min(CHUNK_ROWS, rows - start)
            columns, extra = spec.build(ctx, stream(ctx.seed, ds.id, chunk), start, n)
            # A separate stream: the clean content does not depend on the defect rate.
            rng = stream(ctx.seed, ds.id, chunk, "cases")
            k_def = min(n, _share(rate, start, start + n, False))
            k_norm = min(n - k_def, _share(rate / 4, start, start + n, True))
            k_dup = min(n - k_def - k_norm, _share(rate / 4, start, start + n, True))
            perm = rng.permutation(n)
            bad = perm[:k_def]
            norm = np.sort(perm[k_def : k_def + k_norm])
            dup = np.sort(perm[k_def + k_norm : k_def + k_norm + k_dup])
            assigned = [classes[(class_offset + i) % len(classes)] for i in range(k_def)]
            class_offset += k_def
            columns, ragged = inject(ctx, ds, columns, bad, assigned, rng)
            clean = np.ones(n, dtype=bool)
            clean[bad] = False
            clean[norm] = False
            if spec.register is not None:
                spec.register(ctx, extra, clean, columns)
            columns = normalise(ds, fmt, columns, norm, rng)
            order, is_copy = layout_with_copies(n, dup, rng, by_position=ds.updated_at is None)
            taken = pa.array(order)
            columns = age_copies(ds, {k: v.take(taken) for k, v in columns.items()}, is_copy, rng)
            ragged = ragged[order]
            if writer is not None:
                writer.write(columns, ragged)
            truth.append(_truth_rows(ds, columns, order, is_copy, bad, assigned, norm, written))
            for cls in assigned:
                counts[cls.rule] = counts.get(cls.rule, 0) + 1
            written += order.size
    finally:
        if writer is not None:
            writer.close()
    table = pa.concat_tables(truth) if truth else _empty_truth()
    return written, dict(sorted(counts.items())), table


def _truth_rows(
    ds: Dataset,
    columns: dict[str, pa.Array],
    order: np.ndarray,
    is_copy: np.ndarray,
    bad: np.ndarray,
    assigned: list[DefectClass],
    norm: np.ndarray,
    base: int,
) -> pa.Table:
    """Ground-truth rows of one chunk: defects, normalisation cases and superseded copies."""
    label = np.full(order.size, "", dtype=object)
    severity = np.full(order.size, "none", dtype=object)
    source_label = np.full(order.max(initial=-1) + 1, "", dtype=object)
    source_severity = np.full(source_label.size, "none", dtype=object)
    source_label[bad] = [c.rule for c in assigned]
    source_severity[bad] = [c.severity for c in assigned]
    source_label[norm] = "normalised"
    original = ~is_copy
    label[original] = source_label[order[original]]
    severity[original] = source_severity[order[original]]
    label[is_copy] = "superseded"
    marked = np.flatnonzero(label != "")
    keys = [pc_fill(columns[k].take(pa.array(marked))) for k in ds.key]
    key = keys[0] if len(keys) == 1 else pc.binary_join_element_wise(*keys, "|")
    return pa.table(
        {
            "dataset": pa.array([ds.id] * marked.size, pa.string()),
            "row_number": pa.array(base + marked + 1, pa.int64()),
            "key": key,
            "defect": pa.array(label[marked].tolist(), pa.string()),
            "severity": pa.array(severity[marked].tolist(), pa.string()),
        }
    )


def pc_fill(values: pa.Array) -> pa.Array:
    return pc.fill_null(values, "")
