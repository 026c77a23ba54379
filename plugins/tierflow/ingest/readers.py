"""Stream a delivered file as Arrow record batches, whatever its format and encoding.

Every reader yields :class:`RawBatch` objects: the rows exactly as delivered (text formats as
strings), their 1-based data row numbers, and the lines that could not be split into the
header's fields (ragged CSV lines, broken JSON lines) so they can be quarantined, not lost.
Memory is bounded by the block size, not the file size.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.json as pj
import pyarrow.parquet as pq

from tierflow import storage
from tierflow.errors import TierflowError
from tierflow.settings import settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tierflow.contracts import Dataset

PARQUET_BATCH_ROWS = 250_000
SNIFF_BYTES = 1 << 20


class DeliveryRejected(TierflowError):
    """The whole file is unusable (missing column, unreadable, wrong format); nothing is loaded."""


@dataclass
class BadLine:
    row_number: int
    text: str
    reason: str  # rule id, e.g. "_row:ragged"


@dataclass
class RawBatch:
    table: pa.Table
    row_numbers: np.ndarray
    bad_lines: list[BadLine] = field(default_factory=list)


@dataclass
class FileInfo:
    path: Path
    file_format: str
    encoding: str | None
    columns: list[str]
    extra_columns: list[str]
    missing_optional: list[str]


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise DeliveryRejected(
        f"{path.name}: unknown file type {suffix or '(none)'} (expected .csv, .parquet or .jsonl)"
    )


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or GB18030, decided from the first megabyte.

    A file whose lines are partly valid UTF-8 text and partly not is refused as mixed:
    decoding it as GB18030 would silently turn the UTF-8 lines into mojibake.
    """
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
        bom = True
    else:
        bom = False
    if head.count(b"\x00") > len(head) // 10:
        # UTF-16 or binary: a stray NUL in a row is that row's problem (quarantined), but a
        # file made of them is not a text file at all
        raise DeliveryRejected(f"{path.name}: mostly NUL bytes; not a UTF-8/GB18030 text file")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        pass
    complete_lines = head.split(b"\n")[:-1] if len(head) == SNIFF_BYTES else head.split(b"\n")
    utf8_text_lines = invalid_lines = 0
    for line in complete_lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8_text_lines += 1
        except UnicodeDecodeError:
            invalid_lines += 1
    if bom or (utf8_text_lines and invalid_lines):
        raise DeliveryRejected(
            f"{path.name}: mixed encodings: {utf8_text_lines} line(s) are UTF-8 text and "
            f"{invalid_lines} are not valid UTF-8"
        )
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise DeliveryRejected(
            f"{path.name}: neither UTF-8 nor GB18030 (undecodable byte at offset {exc.start})"
        ) from None


def _check_columns(path: Path, dataset: Dataset, names: list[str]) -> tuple[list[str], list[str]]:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DeliveryRejected(f"{path.name}: duplicate column {name!r} in the header")
        seen.add(name)
    contract = [c.name for c in dataset.columns]
    missing_required = [
        c.name
        for c in dataset.columns
        if c.name not in seen and (not c.nullable or c.name in dataset.key)
    ]
    if missing_required:
        raise DeliveryRejected(
            f"{path.name}: missing required column {missing_required[0]!r} for {dataset.id}"
        )
    extra = [n for n in names if n not in contract]
    missing_optional = [n for n in contract if n not in seen]
    return extra, missing_optional


def _complete(table: pa.Table, dataset: Dataset) -> pa.Table:
    """Contract columns in contract order; absent optional columns as nulls."""
    arrays = []
    for col in dataset.columns:
        if col.name in table.column_names:
            arrays.append(table.column(col.name))
        else:
            arrays.append(pa.nulls(table.num_rows, pa.string()))
    return pa.table(arrays, names=[c.name for c in dataset.columns])


# --- CSV ------------------------------------------------------------------------------------


def _csv_header(path: Path, encoding: str) -> list[str]:
    try:
        with path.open("r", encoding=encoding, newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError:
        raise DeliveryRejected(f"{path.name}: header is not valid {encoding}") from None
    if not first.strip():
        raise DeliveryRejected(f"{path.name}: no header line")
    return [name.strip() for name in next(csv.reader([first]))]


def _read_csv(path: Path, dataset: Dataset, encoding: str, info: FileInfo) -> Iterator[RawBatch]:
    bad: list[BadLine] = []

    def on_invalid(row: pv.InvalidRow) -> str:
        number = (row.number - 1) if row.number is not None and row.number > 0 else -1
        bad.append(BadLine(number, row.text, "_row:ragged"))
        return "skip"

    string_types = {name: pa.string() for name in info.columns}
    reader = pv.open_csv(
        storage.open_input_stream(path),  # blocks of block_bytes, on S3 too
        read_options=pv.ReadOptions(
            use_threads=False,
            block_size=settings().block_bytes,  # tests shrink it: many batches
            encoding="utf8" if encoding == "utf-8-sig" else encoding,
            column_names=info.columns,  # trimmed header names
            skip_rows=1,
        ),
        parse_options=pv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=True),
        convert_options=pv.ConvertOptions(
            column_types=string_types,
            include_columns=[n for n in info.columns if n not in info.extra_columns],
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    next_row = 1  # 1-based data row number of the next row not yet numbered
    emitted_bad = 0
    try:
        for batch in reader:
            # The parser may already have read ahead into the next block, so skipped lines are
            # matched to batches by their row numbers, not by when the handler saw them.
            new_bad = bad[emitted_bad:]
            emitted_bad = len(bad)
            skipped = np.array(
                sorted(b.row_number for b in bad if b.row_number >= next_row), dtype=np.int64
            )
            span = np.arange(next_row, next_row + batch.num_rows + len(skipped), dtype=np.int64)
            numbers = np.setdiff1d(span, skipped, assume_unique=True)[: batch.num_rows]
            if len(numbers):
                next_row = int(numbers[-1]) + 1
            yield RawBatch(_complete(pa.Table.from_batches([batch]), dataset), numbers, new_bad)
    except pa.ArrowInvalid as exc:
        raise DeliveryRejected(f"{path.name}: unreadable CSV: {str(exc).splitlines()[0]}") from None
    if len(bad) > emitted_bad:  # ragged lines after the last batch
        empty = pa.table(
            {n: pa.array([], pa.string()) for n in info.columns if n not in info.extra_columns}
        )
        yield RawBatch(_complete(empty, dataset), np.zeros(0, dtype=np.int64), bad[emitted_bad:])


# --- Parquet --------------------------------------------------------------------------------


def _read_parquet(path: Path, dataset: Dataset, info: FileInfo) -> Iterator[RawBatch]:
    parquet = pq.ParquetFile(storage.open_input_file(path))
    wanted = [n for n in info.columns if n not in info.extra_columns]
    next_row = 1
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted):
        numbers = np.arange(next_row, next_row + batch.num_rows, dtype=np.int64)
        next_row += batch.num_rows
        yield RawBatch(_complete(pa.Table.from_batches([batch]), dataset), numbers)
    if parquet.metadata.num_rows == 0:
        yield RawBatch(
            _complete(parquet.schema_arrow.empty_table().select(wanted), dataset),
            np.zeros(0, dtype=np.int64),
        )


# --- JSON Lines ----------------------------------------------------------------------------


def _json_lines_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        rest = b""
        while True:
            block = handle.read(settings().block_bytes)
            if not block:
                break
            block = rest + block
            cut = block.rfind(b"\n")
            if cut < 0:
                rest = block
                continue
            rest = block[cut + 1 :]
            yield block[: cut + 1]
        if rest:
            yield rest if rest.endswith(b"\n") else rest + b"\n"


def _stringify(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _json_fallback(
    chunk: bytes, names: list[str], first_row: int
) -> tuple[pa.Table, np.ndarray, list[BadLine]]:
    """Slow path for a chunk pyarrow refused: parse line by line so one bad line costs one row."""
    rows: dict[str, list[str | None]] = {n: [] for n in names}
    numbers: list[int] = []
    bad: list[BadLine] = []
    number = first_row - 1
    for line in chunk.split(b"\n"):
        if not line.strip():
            continue
        number += 1
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError:
            bad.append(BadLine(number, line.decode("utf-8", "replace"), "_row:malformed_json"))
            continue
        numbers.append(number)
        for n in names:
            rows[n].append(_stringify(obj.get(n)))
    table = pa.table({n: pa.array(v, pa.string()) for n, v in rows.items()})
    return table, np.array(numbers, dtype=np.int64), bad


def _read_jsonl(path: Path, dataset: Dataset, info: FileInfo) -> Iterator[RawBatch]:
    names = [n for n in info.columns if n not in info.extra_columns]
    schema = pa.schema([(n, pa.string()) for n in names])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    next_row = 1
    for chunk in _json_lines_chunks(path):
        lines = chunk.count(b"\n") - chunk.count(b"\n\n")
        try:
            table = pj.read_json(
                io.BytesIO(chunk),
                parse_options=options,
                read_options=pj.ReadOptions(use_threads=False),
            )
            if table.num_rows != lines:
                raise pa.ArrowInvalid("blank lines inside the chunk")
            numbers = np.arange(next_row, next_row + table.num_rows, dtype=np.int64)
            bad: list[BadLine] = []
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            table, numbers, bad = _json_fallback(chunk, names, next_row)
        next_row += len(numbers) + len(bad)
        yield RawBatch(_complete(table, dataset), numbers, bad)


def _jsonl_keys(path: Path, encoding: str) -> list[str]:
    with path.open("r", encoding=encoding) as handle:
        for line in handle:
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise DeliveryRejected(f"{path.name}: first line is not JSON") from None
                if not isinstance(obj, dict):
                    raise DeliveryRejected(f"{path.name}: first line is not a JSON object")
                return list(obj)
    return []


# --- entry point ----------------------------------------------------------------------------


def open_delivery(path: Path, dataset: Dataset) -> tuple[FileInfo, Iterator[RawBatch]]:
    """Inspect the file (format, encoding, header) and return the batch stream.

    Raises :class:`DeliveryRejected` before any row is read when the file as a whole is unusable.
    """
    if not path.is_file():
        raise DeliveryRejected(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DeliveryRejected(
            f"{path.name}: empty file (0 bytes); a valid empty delivery still has a header"
        )
    fmt = detect_format(path)
    encoding: str | None = None
    if fmt == "parquet":
        try:
            names = pq.ParquetFile(storage.open_input_file(path)).schema_arrow.names
        except (pa.ArrowInvalid, OSError) as exc:
            raise DeliveryRejected(
                f"{path.name}: not a readable Parquet file: {str(exc).splitlines()[0]}"
            ) from None
    elif fmt == "csv":
        encoding = detect_encoding(path)
        names = _csv_header(path, encoding)
    else:
        encoding = detect_encoding(path)
        if encoding != "utf-8" and encoding != "utf-8-sig":
            raise DeliveryRejected(f"{path.name}: JSON Lines must be UTF-8, found {encoding}")
        names = _jsonl_keys(path, encoding)
        if not names:  # header-less empty JSON Lines file: nothing to check against
            names = [c.name for c in dataset.columns]
    extra, missing_optional = _check_columns(path, dataset, names)
    info = FileInfo(path, fmt, encoding, names, extra, missing_optional)
    if fmt == "csv":
        stream = _read_csv(path, dataset, encoding or "utf-8", info)
    elif fmt == "parquet":
        stream = _read_parquet(path, dataset, info)
    else:
        stream = _read_jsonl(path, dataset, info)
    return info, _guarded(stream, path)


def _guarded(stream: Iterator[RawBatch], path: Path) -> Iterator[RawBatch]:
    """Damage found mid-file (corrupt pages, invalid UTF-8 after the sniffed part) rejects the file."""
    try:
        yield from stream
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, DeliveryRejected):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeliveryRejected(f"{path.name}: unreadable after the header: {first[:300]}") from None
