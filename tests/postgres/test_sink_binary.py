"""Binary COPY rows read with numpy (tierflow.sink.binary) against PostgreSQL's own values.

The sink reads its rows as binary COPY; every value must come out as the text the server
would have sent (NULLs, empty strings, strings at and around the 12 bytes Arrow keeps
inline, multibyte text, dates and timestamps either side of 2000-01-01, digests as hex).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
import sqlalchemy as sa

from tierflow.sink.binary import HEADER_BYTES, parse_rows
from tierflow.sink.copyout import copy_out

VALUES = """
    (values
        ('', null::text, date '1999-12-31', timestamptz '1999-12-31 23:59:59.999999+00',
         1.5::float8, -7::bigint, 'a', 1::smallint),
        ('123456789012', 'x', date '2000-01-01', timestamptz '2000-01-01 00:00:00+00',
         'NaN'::float8, 0::bigint, 'b', (-32768)::smallint),
        ('1234567890123', '王小明 of 重庆市渝中区解放碑', null, null, null, null, 'c', null),
        (null, repeat('长', 40), date '1900-02-28', timestamptz '2038-01-19 03:14:08.5+00',
         -0.0::float8, 9223372036854775807::bigint, '', 32767::smallint))
    as v(short_or_not, text_value, day, moment, number, count, seed, small)
"""
FIELDS = [
    ("short_or_not", "text"),
    ("text_value", "text"),
    ("day", "date"),
    ("moment", "timestamp"),
    ("number", "double"),
    ("count", "bigint"),
    ("small", "smallint"),
    ("digest", "digest"),
]


@pytest.mark.postgres
def test_binary_rows_read_as_the_server_sends_them(warehouse: sa.Engine) -> None:
    columns = "short_or_not, text_value, day, moment, number, count, small, sha256(seed::bytea)"
    blocks: list[tuple[bytes, list[int]]] = []
    with warehouse.connect() as conn:
        driver = conn.connection.driver_connection
        copy_out(
            driver,
            f"copy (select {columns} from {VALUES}) to stdout (format binary)",
            lambda block, starts: blocks.append((block, list(starts))),
            block_bytes=1 << 20,
        )
        expected = conn.execute(
            sa.text(
                f"select short_or_not, text_value, day, moment, number, count, small,"
                f" encode(sha256(seed::bytea), 'hex') from {VALUES}"
            )
        ).all()
    ((block, starts),) = blocks
    # the header opens the first message; the trailer (-1) is the last message
    rows = np.asarray(starts[1:-1] if starts[1] == HEADER_BYTES else [HEADER_BYTES, *starts[1:-1]])
    assert block[starts[-1] :] == b"\xff\xff"
    table = parse_rows(block[: starts[-1]], rows, FIELDS)
    assert table.schema.types == [
        pa.string(),
        pa.string(),
        pa.date32(),
        pa.timestamp("us", tz="UTC"),
        pa.float64(),
        pa.int64(),
        pa.int16(),
        pa.string(),
    ]
    got = table.to_pylist()
    assert len(got) == len(expected) == 4
    for row, want in zip(got, expected, strict=True):
        values = list(row.values())
        for value, wanted in zip(values, want, strict=True):
            if isinstance(wanted, float) and wanted != wanted:
                assert value != value  # NaN
            else:
                assert value == wanted and type(value) is type(wanted)
    assert str(got[3]["number"]) == "-0.0"
    assert got[3]["moment"] == dt.datetime(2038, 1, 19, 3, 14, 8, 500000, tzinfo=dt.UTC)


@pytest.mark.unit
def test_a_row_with_another_number_of_fields_is_refused() -> None:
    row = (
        (2).to_bytes(2, "big")
        + (1).to_bytes(4, "big")
        + b"a"
        + (-1).to_bytes(4, "big", signed=True)
    )
    with pytest.raises(ValueError, match="fields"):
        parse_rows(row, np.array([0]), [("only", "text")])
