"""Chunked extract writers: CSV (three encodings), JSON Lines and typed Parquet.

All writers take a chunk of canonical text columns. CSV and JSON Lines lines are
assembled with Arrow string kernels (no per-row Python); Parquet casts the text
back to the contract's types, one row group per chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from tierflow import storage
from tierflow.contracts import ColumnType, Dataset
from tierflow.generate.text import TS_FORMAT

if TYPE_CHECKING:
    from pathlib import Path

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
RAGGED_EXTRA = ",extra"
ARROW_TYPES = {
    ColumnType.string: pa.string(),
    ColumnType.integer: pa.int64(),
    ColumnType.decimal: pa.float64(),
    ColumnType.date: pa.date32(),
    ColumnType.timestamp: pa.timestamp("us", tz="Asia/Shanghai"),
}


def arrow_schema(ds: Dataset) -> pa.Schema:
    # every field nullable: a delivery may break a not-null rule, the checker must see it
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in ds.columns])


class ExtractWriter:
    """Writes one extract file chunk by chunk; ``close()`` finishes it."""

    def __init__(self, path: Path, ds: Dataset, fmt: str, encoding: str) -> None:
        if fmt not in EXTENSIONS:
            raise ValueError(f"unknown format {fmt!r} (csv, parquet, jsonl)")
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r} ({', '.join(ENCODINGS)})")
        self.path, self.ds, self.fmt, self.encoding = path, ds, fmt, encoding
        self.names = [c.name for c in ds.columns]
        storage.mkdirs(path.parent)
        self._parquet: pq.ParquetWriter | None = None
        self._handle = None
        if fmt == "parquet":
            fs, where = storage.arrow(path)  # streamed: on S3 a multipart upload
            self._parquet = pq.ParquetWriter(
                where, arrow_schema(ds), compression="zstd", filesystem=fs
            )
        else:
            self._handle = path.open("wb")
            if fmt == "csv":
                header = ",".join(self.names) + "\n"
                self._handle.write(
                    ("\ufeff" if encoding == "utf-8-sig" else "").encode() + self._encode(header)
                )

    def _encode(self, data: str | bytes) -> bytes:
        if self.encoding == "gb18030":
            return (data.decode("utf-8") if isinstance(data, bytes) else data).encode("gb18030")
        return data.encode("utf-8") if isinstance(data, str) else data

    def write(self, columns: dict[str, pa.Array], ragged: np.ndarray | None = None) -> None:
        if self._parquet is not None:
            self._parquet.write_table(self._typed(columns), row_group_size=1 << 30)
            return
        data = (
            self._csv_bytes(columns, ragged)
            if self.fmt == "csv"
            else _concat_lines(self._json_lines(columns))
        )
        assert self._handle is not None
        self._handle.write(self._encode(data))

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._handle is not None:
            self._handle.close()

    def _csv_bytes(self, columns: dict[str, pa.Array], ragged: np.ndarray | None) -> bytes:
        fields = [_csv_field(columns[name]) for name in self.names]
        if any(f is None for f in fields):
            # some value needs quotes: assemble the lines ourselves (slower, rare: WKT in CSV)
            parts: list[pa.Array | str] = []
            for name in self.names:
                parts += [",", _quoted(columns[name])] if parts else [_quoted(columns[name])]
            lines = pc.binary_join_element_wise(*parts, "")
            if ragged is not None and ragged.any():
                lines = pc.if_else(
                    pa.array(ragged), pc.binary_join_element_wise(lines, RAGGED_EXTRA, ""), lines
                )
            data = _concat_lines(lines)
        else:
            # nothing to quote: Arrow's writer, told never to quote, is the fast path
            sink = pa.BufferOutputStream()
            table = pa.Table.from_arrays(fields, names=self.names)
            pcsv.write_csv(
                table, sink, pcsv.WriteOptions(include_header=False, quoting_style="none")
            )
            data = sink.getvalue().to_pybytes()
            if ragged is not None and ragged.any():
                line_bytes = sum(
                    pc.binary_length(f).to_numpy().astype(np.int64) for f in fields
                ) + len(fields)
                data = _append_to_lines(
                    data, np.cumsum(line_bytes)[np.flatnonzero(ragged)] - 1, RAGGED_EXTRA.encode()
                )
        return data

    def _json_lines(self, columns: dict[str, pa.Array]) -> pa.Array:
        parts: list[pa.Array | str] = []
        for i, name in enumerate(self.names):
            parts.append(("{" if i == 0 else ",") + f'"{name}":')
            parts.append(_json_value(columns[name]))
        parts.append("}")
        return pc.binary_join_element_wise(*parts, "")

    def _typed(self, columns: dict[str, pa.Array]) -> pa.Table:
        arrays = []
        for col in self.ds.columns:
            values = columns[col.name]
            if col.type == ColumnType.timestamp:
                naive = pc.strptime(values, format=TS_FORMAT, unit="us")
                values = pc.assume_timezone(
                    naive, timezone="Asia/Shanghai", ambiguous="earliest", nonexistent="earliest"
                )
            elif col.type != ColumnType.string:
                values = values.cast(ARROW_TYPES[col.type])
            arrays.append(values)
        return pa.Table.from_arrays(arrays, schema=arrow_schema(self.ds))


def _csv_field(values: pa.Array) -> pa.Array | None:
    """The column as written without quotes (null -> empty), or None if some value needs quotes."""
    needs = pc.match_substring_regex(values, '[",\r\n]')
    if pc.any(needs).as_py():
        return None
    return pc.fill_null(values, "")


def _quoted(values: pa.Array) -> pa.Array:
    """RFC 4180: quote only the values that need it; a null is an empty field."""
    needs = pc.fill_null(pc.match_substring_regex(values, '[",\r\n]'), False)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.fill_null(pc.if_else(needs, quoted, values), "")


def _append_to_lines(data: bytes, newlines: np.ndarray, extra: bytes) -> bytes:
    """Insert ``extra`` before each given newline offset (one slice per ragged row only)."""
    view = memoryview(data)
    pieces, previous = [], 0
    for end in newlines.tolist():
        pieces += [view[previous:end], extra]
        previous = end
    pieces.append(view[previous:])
    return b"".join(pieces)


def _json_value(values: pa.Array) -> pa.Array:
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    return pc.fill_null(pc.binary_join_element_wise('"', escaped, '"', ""), "null")


def _concat_lines(lines: pa.Array) -> bytes:
    """All lines of a chunk as one buffer, each ended by '\\n' (one copy out of the Arrow buffer)."""
    if not len(lines):
        return b""
    ended = pc.binary_join_element_wise(lines, "\n", "")
    offsets_type = np.int64 if pa.types.is_large_string(ended.type) else np.int32
    offsets = np.frombuffer(ended.buffers()[1], dtype=offsets_type)[
        ended.offset : ended.offset + len(ended) + 1
    ]
    return bytes(memoryview(ended.buffers()[2])[offsets[0] : offsets[-1]])
