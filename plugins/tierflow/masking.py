"""Classification masking (design §6): partial masks over Arrow, keyed pseudonyms.

A field above the consumer's clearance is partially masked: phones keep 3+4, names the
surname, addresses their first 6 characters, dates their year; anything else is withheld
(null). Each mask has two renderings side by side, one per path that applies it: Arrow
compute for the feeds (vectorised, no per-row Python) and a SQL expression for the pull
views; ``tests`` hold the two equal on generated values.

A level-4 identifier (ID number, licence holder, applicant) is never partially shown: its
hidden digits are guessable from what else a consumer sees (an ID number's hidden 8 digits
are the birth date), so above the clearance it is always a pseudonym (docs/sharing.md).
Where the demand says ``pseudonymise``, or for such an identifier, the value is replaced
by HMAC-SHA256 under a key derived per consumer from the secret, so a district can join
its own feeds and views but two districts cannot link theirs. The hashing runs inside PostgreSQL (C speed,
in the same COPY that extracts the rows) with the core ``sha256()`` function, as
HMAC = H((K xor opad) || H((K xor ipad) || m)); no extension is needed, so the embedded
server works too. The two padded keys reach the server through COPY into a temporary
table, so the key is in no SQL text, log line or manifest.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tierflow.contracts import Column, ColumnType, Semantic
from tierflow.secrets import MissingSecret, secret

KEY_ENV = "TIERFLOW_PSEUDONYM_KEY"
AIRFLOW_CONN_ID = "tierflow_pseudonym"
PSEUDONYM = "pseudonym:hmac-sha256"
CLEAR = "clear"


class MissingPseudonymKey(MissingSecret):
    """No secret configured for pseudonyms."""


class Mask(StrEnum):
    phone = "partial:keep-3+4"
    name = "partial:keep-surname"
    prefix = "partial:keep-first-6"
    year = "generalised:year"
    withhold = "withheld"


# Level-4 identifier columns that hold an ID number or a USCC without a semantic tag.
_ID_LIKE = {"holder_id", "applicant_id"}


def is_identifier(column: Column) -> bool:
    """A column naming a person or an entity outright: only ever clear or a pseudonym."""
    return column.semantic in (Semantic.citizen_id, Semantic.uscc) or column.name in _ID_LIKE


def mask_for(column: Column) -> Mask:
    """The partial mask a non-identifier column gets above the consumer's clearance."""
    if is_identifier(column):
        raise ValueError(f"{column.name}: an identifier is never partially masked")
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


def column_treatment(columns: list[Column], clearance: int, *, pseudonymise: bool = False) -> str:
    """The transform of a value filled by ``columns`` (contract columns) for a consumer of
    ``clearance``: the one classification rule of every path (feeds, pull views, console).

    Pseudonymised when asked, or when it is an identifier above the clearance (never partly
    shown); else masked or generalised above the clearance (``mask_for``); else clear.
    """
    level = max(c.level for c in columns)
    above = level > clearance
    if pseudonymise or (above and any(is_identifier(c) for c in columns)):
        return PSEUDONYM
    if above:
        return mask_for(columns[0]).value
    return CLEAR


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
    if column_treatment([column], CONSOLE_CLEARANCE) == CLEAR:
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


def _sql_keep_ends(value: str, head: int, stars: int, tail: int) -> str:
    return (
        f"case when length({value}) < {head + tail + 1} then '{'*' * stars}'"
        f" else left({value}, {head}) || '{'*' * stars}' || right({value}, {tail}) end"
    )


def mask_sql(value: str, mask: Mask, sql_type: str) -> str:
    """SQL expression of ``mask`` over the expression ``value`` (its type: ``sql_type``):
    the same output as :func:`apply_mask` (nulls stay null)."""
    if mask == Mask.withhold:
        return f"null::{sql_type}"
    if mask == Mask.year:
        return f"date_trunc('year', {value})::{sql_type}"
    if mask == Mask.phone:
        return _sql_keep_ends(value, 3, 4, 4)
    if mask == Mask.name:
        return f"left({value}, 1) || repeat('*', greatest(length({value}) - 1, 0))"
    if mask == Mask.prefix:
        return f"left({value}, 6) || '****'"
    raise ValueError(mask)


def treatment_sql(
    value: str,
    treatment: str,
    sql_type: str,
    inner_pad_sql: str = "(select inner_pad from pg_temp.pseudonym_key)",
    outer_pad_sql: str = "(select outer_pad from pg_temp.pseudonym_key)",
) -> str:
    """SQL of one policy transform (clear, pseudonym or a mask) over the expression ``value``:
    the pull views and the purge notices render every column through it."""
    if treatment == CLEAR:
        return f"{value}::{sql_type}"
    if treatment == PSEUDONYM:
        return pseudonym_sql(value, inner_pad_sql, outer_pad_sql)
    return mask_sql(value, Mask(treatment), sql_type)


def pseudonym_secret() -> bytes:
    """The secret: env ``TIERFLOW_PSEUDONYM_KEY``, else the Airflow connection's password.

    Looked up by :func:`tierflow.secrets.secret`, the rule every platform secret follows.
    """
    return secret(KEY_ENV, AIRFLOW_CONN_ID, "pseudonym key", MissingPseudonymKey).encode("utf-8")


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
    from tierflow.sql_files import sql

    digest = sql(
        "sink", "pseudonym_digest", column=column_sql, inner=inner_pad_sql, outer=outer_pad_sql
    ).strip()
    if not hex_text:
        return digest
    return sql("sink", "pseudonym_expression", digest=digest).strip()
