"""Pull views generated from the compiled sharing policy, with their grants.

Every pilot district gets a schema ``share_<code>`` holding one view per feed its policy
allows (``share_500103.person`` …) and nothing else; its role ``district_<code>`` may read
those views and no other relation. :func:`refresh_views` rebuilds every district's schema,
views and grants in one transaction from :func:`tierflow.sharing.policy.plan_feeds` — the
same plans the feed extractor runs — so a rejected, expired or revoked demand closes its
view at the next refresh (every sink run, and ``tierflow share refresh``), a narrowed
demand narrows it, and any privilege a district role holds outside its schema is revoked.

Pseudonymised columns are computed in the view under the district's own key (the same
HMAC as its feeds, so pull results join feed rows): the key's padded forms sit in
``share_secret.consumer_key``, readable by the views' owner ``tierflow_share`` only.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tierflow import locks
from tierflow.db import engine as default_engine
from tierflow.db import is_citus
from tierflow.errors import TierflowError
from tierflow.lists import district_consumer, today
from tierflow.masking import consumer_key, hmac_pads, pseudonym_secret, treatment_sql
from tierflow.pool import quote
from tierflow.sharing.policy import SQL_TYPES, FeedPlan, plan_feeds
from tierflow.sharing.store import policy_catalog
from tierflow.sink.share import district_role, ensure_district_roles
from tierflow.sql_files import split, sql, statement
from tierflow.sql_files import statements as sql_statements

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.engine import Connection, Engine

    from tierflow.contracts import Catalog

VIEW_OWNER = "tierflow_share"
_CODE = re.compile(r"^\d{6}$")


def district_schema(code: str) -> str:
    if not _CODE.match(code):
        raise ValueError(f"not a 6-digit district code: {code!r}")
    return f"share_{code}"


def _qualified(table: str) -> str:
    schema, name = table.split(".")
    return f"{quote(schema)}.{quote(name)}"


def _literal(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise ValueError(f"unexpected characters in {value!r}")
    return f"'{value}'"


def _rows_name(plan: FeedPlan) -> str:
    """On Citus: the view of the pull view's rows behind its security-definer function."""
    return f"{plan.name}__rows"


def view_sql(plan: FeedPlan, *, citus: bool = False) -> str:
    """``create view`` of one district's pull view of one feed, from its plan; on Citus the
    same view under :func:`_rows_name`, then the function and the view reading through it
    (``pull_view_definer.sql``)."""
    source = plan.source
    scope = source.scope_sql("t", _literal(plan.division_code))
    columns = ",\n        ".join(
        f"{treatment_sql(f't.{quote(c.column)}', c.treatment, SQL_TYPES[c.kind], 'k.inner_pad', 'k.outer_pad')}"
        f" as {quote(c.output)}"
        for c in plan.columns
    )
    key_join = ""
    if plan.pseudonymised:
        key_join = (
            "inner join share_secret.consumer_key as k"
            f" on k.consumer_id = {_literal(plan.consumer_id)}"
        )
    schema = quote(district_schema(plan.division_code))
    name = _rows_name(plan) if citus else plan.name
    view = sql(
        "sharing",
        "pull_view",
        view=f"{schema}.{quote(name)}",
        source=_qualified(source.current_table),
        scope=scope,
        columns=columns,
        changed_at=quote(source.current_changed_at),
        key_join=key_join,
    )
    if not citus:
        return view
    definer = sql(
        "sharing",
        "pull_view_definer",
        rows_view=f"{schema}.{quote(name)}",
        function=f"{schema}.{quote(name)}",
        view=f"{schema}.{quote(plan.name)}",
        owner=VIEW_OWNER,
        role=quote(district_role(plan.division_code)),
    )
    return f"{view};\n{definer}"


def _store_keys(conn: Connection, consumer_ids: list[str], secret: bytes) -> None:
    """The consumers' padded pseudonym keys, by COPY (never in a statement or a log)."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute("delete from share_secret.consumer_key")
        with cursor.copy(
            "copy share_secret.consumer_key (consumer_id, inner_pad, outer_pad) from stdin"
        ) as copy:
            for consumer_id in consumer_ids:
                copy.write_row([consumer_id, *hmac_pads(consumer_key(secret, consumer_id))])


def _revoke_strays(conn: Connection, role: str, schema: str) -> list[str]:
    """Revoke every privilege granted to ``role`` outside its own schema: on relations, and
    usage on schemas other than its own and ``share`` (whose function its policies call)."""
    params = {"role": role, "schema": schema}
    relations = conn.execute(statement("sharing", "stray_relations"), params).all()
    for table_schema, table_name in relations:
        relation = f"{quote(table_schema)}.{quote(table_name)}"
        conn.execute(statement("sharing", "revoke_relation", relation=relation, role=quote(role)))
    schemas = conn.execute(statement("sharing", "stray_schemas"), params).scalars().all()
    for name in sorted(set(schemas)):
        conn.execute(statement("sharing", "revoke_schema", schema=quote(name), role=quote(role)))
    return [f"{s}.{t}" for s, t in relations] + [f"schema {n}" for n in sorted(set(schemas))]


def _fingerprint(statements: list[str]) -> str:
    return (
        "tierflow sharing policy " + hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()
    )


def _current_fingerprint(conn: Connection, schema: str) -> str | None:
    return conn.scalar(statement("sharing", "schema_fingerprint"), {"s": schema})


def _end_sessions_reading(conn: Connection, schema: str) -> int:
    """End the sessions that hold a lock on the schema's views: a district that opened a
    transaction before its policy changed must not keep reading (nor block the change)."""
    return len(conn.execute(statement("sharing", "end_sessions_reading"), {"s": schema}).all())


def refresh_district(conn: Connection, plans: list[FeedPlan], code: str) -> dict[str, Any]:
    """One district's schema, views and grants from its plans (caller's transaction).

    The schema is rebuilt only when what its plans generate differs from what it holds
    (a fingerprint in the schema's comment), so a sink run that changes nothing for a
    district leaves its readers alone; when it does change, sessions still reading the old
    views are ended first.
    """
    role = district_role(code)
    name = district_schema(code)
    schema = quote(name)
    citus = is_citus(conn)
    views = [view_sql(plan, citus=citus) for plan in plans]
    fingerprint = _fingerprint([role, *views])
    rebuilt = _current_fingerprint(conn, name) != fingerprint
    ended = 0
    if rebuilt:
        ended = _end_sessions_reading(conn, name)
        names = {"role": quote(role), "owner": VIEW_OWNER}
        for piece in sql_statements("sharing", "district_schema", schema=schema, **names):
            conn.execute(sa.text(piece))
        for plan, view_statement in zip(plans, views, strict=True):
            view = f"{schema}.{quote(plan.name)}"
            for piece in split(view_statement):
                conn.execute(sa.text(piece))
            for piece in sql_statements("sharing", "view_grants", view=view, **names):
                conn.execute(sa.text(piece))
        comment = statement(
            "sharing",
            "schema_comment",
            schema=schema,
            fingerprint="'" + fingerprint.replace("'", "''") + "'",
        )
        conn.execute(comment)
    revoked = _revoke_strays(conn, role, name)
    return {
        "schema": name,
        "views": [plan.name for plan in plans],
        "rebuilt": rebuilt,
        "sessions_ended": ended,
        "revoked": revoked,
    }


def refresh_views(
    conn: Connection,
    cat: Catalog,
    as_of: dt.date,
    *,
    secret: bytes | None = None,
    plans: dict[str, list[FeedPlan]] | None = None,
) -> dict[str, Any]:
    """Every pilot district's pull views and grants, in the caller's transaction.

    ``plans`` (district code → plans) lets the sink pass the plans it is about to run, so
    the feeds and the views of one run come from one compilation.
    """
    codes = cat.divisions.pilot_codes
    if plans is None:
        plans = {code: plan_feeds(cat, district_consumer(cat, code), as_of) for code in codes}
    # one statement at a time on a shared object is enough: refreshes queue up here
    locks.hold_for_transaction(conn, "tierflow.share.refresh")
    ensure_district_roles(conn, codes)
    if is_citus(conn):
        conn.execute(statement("sharing", "owner_login", owner=VIEW_OWNER))
    pseudonymised = sorted({p.consumer_id for ps in plans.values() for p in ps if p.pseudonymised})
    if pseudonymised:
        _store_keys(conn, pseudonymised, secret or pseudonym_secret())
    else:
        conn.execute(statement("sharing", "forget_consumer_keys"))
    districts = {code: refresh_district(conn, plans.get(code, []), code) for code in codes}
    return {
        "as_of": as_of.isoformat(),
        "districts": districts,
        "views": sum(len(d["views"]) for d in districts.values()),
    }


def share_refresh(
    as_of: dt.date | None = None, *, eng: Engine | None = None, cat: Catalog | None = None
) -> dict[str, Any]:
    """``tierflow share refresh``: regenerate every pull view and grant from the lists now."""
    eng = eng or default_engine()
    cat = cat or policy_catalog(eng)
    with eng.begin() as conn:
        try:
            return refresh_views(conn, cat, as_of or today())
        except sa.exc.ProgrammingError as exc:
            raise TierflowError(f"share refresh failed: {exc.orig}") from exc
