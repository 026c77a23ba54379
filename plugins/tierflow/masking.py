"""Classification masking (design §6): partial masks over Arrow, keyed pseudonyms.

A field above the consumer's clearance is partially masked, vectorised with pyarrow
compute (no per-row Python): ID numbers keep the division and the last 4
(``500103********1234``), phones 3+4, names the surname, addresses their first 6
characters, dates their year; anything else is withheld (null).

Where the demand says ``pseudonymise``, the value is replaced by HMAC-SHA256 under a
key derived per consumer from the secret, so a district can join its own feeds but two
districts cannot link theirs. The hashing runs inside PostgreSQL (C speed,
in the same COPY that extracts the rows) with the core ``sha256()`` function, as
HMAC = H((K xor opad) || H((K xor ipad) || m)); no extension is needed, so the embedded
server works too. The two padded keys reach the server through COPY into a temporary
table, so the key is in no SQL text, log line or manifest.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tierflow.contracts import Column, ColumnType, Semantic
from tierflow.errors import TierflowError

KEY_ENV = "TIERFLOW_PSEUDONYM_KEY"
AIRFLOW_CONN_ID = "tierflow_pseudonym"
PSEUDONYM = "pseudonym:hmac-sha256"


class MissingPseudonymKey(TierflowError):
    """No secret configured for pseudonyms."""


class Mask(StrEnum):
    id_number = "partial:keep-division-and-last-4"
    phone = "partial:keep-3+4"
    name = "partial:keep-surname"
    prefix = "partial:keep-first-6"
    year = "generalised:year"
    withhold = "withheld"


# Level-4 identifier columns that hold an ID number or a USCC without a semantic tag.
_ID_LIKE = {"holder_id", "applicant_id"}


def mask_for(column: Column) -> Mask:
    """The partial mask a column gets when its level is above the consumer's clearance."""
    if column.semantic == Semantic.citizen_id or column.name in _ID_LIKE:
        return Mask.id_number
    if column.semantic == Semantic.phone:
        return Mask.phone
    if column.semantic == Semantic.person_name:
        return Mask.name
    if column.type == ColumnType.date:
        return Mask.year
    if column.type == ColumnType.string and "address" in column.name:
        return Mask.prefix
    return Mask.withhold


# What the operations console (the Airflow plugin and the GX Data Docs it serves) may show
# in clear: an operator is cleared like a level-2 consumer.
CONSOLE_CLEARANCE = 2


def docs_sample_treatment(column: Column) -> Mask | None:
    """What Data Docs may show of a column's failing values: None for the values themselves.

    The one rule for the console's samples (GX's "unexpected values"), from the column's
    classification level as for a consumer of ``CONSOLE_CLEARANCE``: at or below it the values
    are shown (escaped by the caller: every value is, whatever its level); above it the column
    would get its partial mask (``mask_for``), but a partial mask is made for well-formed values
    and a failing value is malformed by definition (a 20-character "ID number" keeping its first
    6 and last 4 shows half of itself), so nothing is shown: ``Mask.withhold``. Level-3 names and
    addresses and level-4 identifiers therefore never reach a page.
    """
    if column.level <= CONSOLE_CLEARANCE:
        return None
    return Mask.withhold


def _keep_ends(values: pa.Array, head: int, stars: int, tail: int) -> pa.Array:
    masked = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(values, 0, head),
        pa.scalar("*" * stars),
        pc.utf8_slice_codeunits(values, -tail),
        "",
    )
    # too short to keep both ends without revealing most of it: mask it whole
    short = pc.less(pc.utf8_length(values), head + tail + 1)
    return pc.if_else(short, pa.scalar("*" * stars), masked)


def apply_mask(values: pa.Array | pa.ChunkedArray, mask: Mask) -> pa.Array | pa.ChunkedArray:
    """Vectorised mask of one column; nulls stay null."""
    if mask == Mask.withhold:
        return pa.nulls(len(values), type=values.type)
    if mask == Mask.year:
        return pc.floor_temporal(values, unit="year")
    if mask == Mask.id_number:
        return _keep_ends(values, 6, 8, 4)
    if mask == Mask.phone:
        return _keep_ends(values, 3, 4, 4)
    if mask == Mask.name:
        rest = pc.max_element_wise(pc.subtract(pc.utf8_length(values), 1), 0)
        return pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(values, 0, 1), pc.binary_repeat("*", rest), ""
        )
    if mask == Mask.prefix:
        return pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 0, 6), "****", "")
    raise ValueError(mask)


def pseudonym_secret() -> bytes:
    """The secret: env ``TIERFLOW_PSEUDONYM_KEY``, else the Airflow connection's password."""
    value = os.environ.get(KEY_ENV)
    if not value:
        try:
            from airflow.sdk import BaseHook

            value = BaseHook.get_connection(AIRFLOW_CONN_ID).password
        except Exception:  # noqa: BLE001 - no Airflow or no such connection: reported below
            value = None
    if not value:
        raise MissingPseudonymKey(
            f"no pseudonym key: set {KEY_ENV} or the password of the Airflow connection"
            f" {AIRFLOW_CONN_ID!r}"
        )
    return value.encode("utf-8")


def consumer_key(secret: bytes, consumer_id: str) -> bytes:
    """Per-consumer key, so pseudonyms of two consumers cannot be linked."""
    return hmac.new(secret, f"tierflow-pseudonym:{consumer_id}".encode(), hashlib.sha256).digest()


def pseudonym(key: bytes, value: str) -> str:
    """Reference implementation of one pseudonym (tests; the sink hashes in PostgreSQL)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """(K xor ipad, K xor opad) of HMAC-SHA256 (RFC 2104, 64-byte block)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def install_key(cursor: Any, key: bytes) -> None:
    """Put the padded key in a temporary table of this transaction (COPY: never in a statement)."""
    cursor.execute(
        "create temp table if not exists pseudonym_key"
        " (inner_pad bytea not null, outer_pad bytea not null) on commit drop"
    )
    cursor.execute("truncate pg_temp.pseudonym_key")
    with cursor.copy("copy pg_temp.pseudonym_key (inner_pad, outer_pad) from stdin") as copy:
        copy.write_row(list(hmac_pads(key)))


def pseudonym_sql(
    column_sql: str,
    inner_pad_sql: str = "(select inner_pad from pg_temp.pseudonym_key)",
    outer_pad_sql: str = "(select outer_pad from pg_temp.pseudonym_key)",
    *,
    hex_text: bool = True,
) -> str:
    """SQL expression: hex HMAC-SHA256 of a text column under a padded key held in the database.

    By default the key is the one :func:`install_key` put in pg_temp.pseudonym_key; the sink
    passes per-row pad columns instead (one key per district in a multi-district statement).
    ``hex_text=False``: the 32-byte digest itself (bytea), for a reader that hex-encodes it.
    """
    from importlib.resources import files

    fragments = files("tierflow") / "sql" / "sink"
    digest = (
        (fragments / "pseudonym_digest.sql")
        .read_text(encoding="utf-8")
        .strip()
        .format(column=column_sql, inner=inner_pad_sql, outer=outer_pad_sql)
    )
    if not hex_text:
        return digest
    return (
        (fragments / "pseudonym_expression.sql")
        .read_text(encoding="utf-8")
        .strip()
        .format(digest=digest)
    )
