"""Attacks on the sharing promise, as a district data team with a login would try them.

For every pilot district role and every relation it can select, and for every feed file of
a run: no real identifier in clear, no negative-list column, no column outside the
district's approved demands, no masked identifier narrowed below 1,000 candidates, no row
of another district. Then the demand lifecycle on both paths: a rejected, expired or
revoked demand closes the view and sends a purge notice, a narrowed demand narrows the
view, a negative-list entry removes the column, nothing flows after the purge until a new
approval, and a session opened before the change cannot keep reading.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.attacks import district_login, id_candidates, looks_partly_masked, rebuild_id
from tests.conftest import SIGNING_KEY
from tests.postgres.test_sink import AS_OF, SECRET, sunk_chain
from tierflow.contracts import Catalog, Demand, DemandList, NegativeEntry, NegativeList, catalog
from tierflow.lists import district_consumer
from tierflow.masking import consumer_key, pseudonym
from tierflow.sharing.policy import plan_feeds

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PILOTS = catalog().divisions.pilot_codes
AFTER = AS_OF + dt.timedelta(days=1)
REJECTED, EXPIRED, NARROWED, REVOKED = "D-2026-019", "D-2026-007", "D-2026-031", "D-2026-013"
NEGATIVE_FIELD = ("samr.enterprise", "legal_rep_name")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[sa.Engine, Path]]:
    """The real chain and run ``base`` of the sink, of this module's own (its lifecycle test
    changes the lists and the feed ledger)."""
    with sunk_chain(tmp_path_factory, "attack") as sunk:
        yield sunk


def real_identifiers(engine: sa.Engine) -> set[str]:
    """Every citizen ID number in the warehouse (persons, legal representatives, licence
    holders and applicants who are persons); a USCC is public (level 1) where it names an
    entity."""
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.text(
                    "select id_number from library.person"
                    " union select legal_rep_id_number from library.legal_entity"
                    " union select holder_id from library.e_license where holder_kind = 'person'"
                    " union select applicant_id from thematic.service_case"
                    " where applicant_kind = 'person'"
                )
            ).scalars()
        )


def selectable(engine: sa.Engine, role: str) -> list[tuple[str, str]]:
    """Every relation ``role`` may select, whatever schema it sits in."""
    with engine.connect() as conn:
        return [
            (r.nspname, r.relname)
            for r in conn.execute(
                sa.text(
                    "select n.nspname, c.relname from pg_class as c"
                    " join pg_namespace as n on n.oid = c.relnamespace"
                    " where c.relkind in ('r', 'v', 'm', 'p', 'f')"
                    " and n.nspname not in ('pg_catalog', 'information_schema')"
                    " and has_table_privilege(:role, c.oid, 'select')"
                    " order by 1, 2"
                ),
                {"role": role},
            )
        ]


def negative_fields(cat: Catalog) -> set[str]:
    return {e.field for e in cat.negative.entries if e.field}


def assert_nothing_leaks(
    rows: list[dict], allowed: set[str], real: set[str], negative: set[str], where: str
) -> dict[str, int]:
    """The checks every relation and every feed file must pass; returns what was tried."""
    columns = set(rows[0]) if rows else set()
    assert columns <= allowed | {"op", "changed_at"}, f"{where}: {columns - allowed}"
    assert not columns & negative, f"{where}: negative-list column"
    tried = {"values": 0, "rebuilds": 0, "masked_ids": 0}
    births = [r.get("birth_date") for r in rows]
    for name in columns:
        values = [r[name] for r in rows]
        tried["values"] += len(values)
        leaked = {v for v in values if isinstance(v, str)} & real
        assert not leaked, f"{where}.{name}: {len(leaked)} real identifiers in clear"
        for value, birth in zip(values, births, strict=True):
            if not looks_partly_masked(value):
                continue
            tried["masked_ids"] += 1
            if isinstance(birth, dt.date):
                tried["rebuilds"] += 1
                assert rebuild_id(value, birth) not in real, f"{where}.{name}: rebuilt"
            known = {"birth": birth} if isinstance(birth, dt.date) else {}
            assert id_candidates(value, **known) >= 1000, f"{where}.{name}: narrowed"
    return tried


@pytest.mark.postgres
@pytest.mark.slow
def test_the_old_view_shape_is_caught_by_the_same_checks(chain):
    """The attack that broke the hand-written view works on its shape: the checks can fail."""
    engine, _root = chain
    with engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "select left(id_number, 6) || '********' || right(id_number, 4)"
                    " as id_number, birth_date from library.person"
                    " where left(division_code, 6) = '500103'"
                )
            )
        ]
    real = real_identifiers(engine)
    rebuilt = sum(rebuild_id(r["id_number"], r["birth_date"]) in real for r in rows)
    assert rows and rebuilt == len(rows)  # every one of them, as the issue found
    with pytest.raises(AssertionError, match="rebuilt"):
        assert_nothing_leaks(rows, {"id_number", "birth_date"}, real, set(), "old share.person")
    # even the birth year beside the mask leaves tens of candidates, not a thousand
    year_only = id_candidates(rows[0]["id_number"], birth_year=rows[0]["birth_date"].year)
    assert year_only < 1000
    assert id_candidates("500103********123X") >= 1000  # nothing else known: thousands


@pytest.mark.postgres
@pytest.mark.slow
def test_no_district_role_can_read_or_rebuild_what_it_was_not_approved(chain):
    engine, _root = chain
    cat = catalog()
    real = real_identifiers(engine)
    negative = negative_fields(cat)
    tried = {"relations": 0, "values": 0, "masked_ids": 0}
    for code in PILOTS:
        role = f"district_{code}"
        plans = {p.name: p for p in plan_feeds(cat, district_consumer(cat, code), AS_OF)}
        relations = selectable(engine, role)
        # only its own schema, and exactly one view per feed its policy allows
        assert relations == sorted((f"share_{code}", name) for name in plans), code
        with district_login(engine, code) as conn:
            for schema, name in relations:
                rows = [
                    dict(r._mapping)
                    for r in conn.execute(sa.text(f'select * from {schema}."{name}"'))
                ]
                plan = plans[name]
                expected = [c.output for c in plan.columns] + ["changed_at"]
                columns = [
                    c
                    for c in conn.execute(
                        sa.text(f'select * from {schema}."{name}" limit 0')
                    ).keys()
                ]
                assert columns == expected, f"{schema}.{name}"
                if "division_code" in expected:
                    assert {r["division_code"][:6] for r in rows} <= {code}
                result = assert_nothing_leaks(
                    rows, set(expected), real, negative, f"{schema}.{name}"
                )
                tried["relations"] += 1
                tried["values"] += result["values"]
                tried["masked_ids"] += result["masked_ids"]
    assert tried["relations"] >= len(PILOTS) * 5 and tried["values"] > 10_000
    print(f"\nattacked {tried}")


@pytest.mark.postgres
@pytest.mark.slow
def test_no_feed_file_of_the_run_leaks_either(chain):
    engine, root = chain
    cat = catalog()
    real = real_identifiers(engine)
    negative = negative_fields(cat)
    files = 0
    for code in PILOTS:
        plans = {p.name: p for p in plan_feeds(cat, district_consumer(cat, code), AS_OF)}
        feeds = sorted(p.name for p in (root / "feeds" / code).iterdir())
        assert feeds == sorted(plans), code
        for feed in feeds:
            allowed = {c.output for c in plans[feed].columns}
            for part in sorted((root / "feeds" / code / feed / "base").glob("*.parquet")):
                rows = pq.read_table(part).to_pylist()
                assert_nothing_leaks(rows, allowed, real, negative, f"{code}/{feed}/{part.name}")
                files += 1
    assert files >= 100  # empty feeds have no part file
    print(f"\nattacked {files} feed files")


@pytest.mark.postgres
@pytest.mark.slow
def test_pull_views_and_feeds_carry_the_same_values_and_pseudonyms(chain):
    """One policy, two paths: a district joins its pull results to its feed rows."""
    engine, root = chain
    for code in ("500101", "500103"):
        key = consumer_key(SECRET.encode(), f"d{code}")
        for feed in ("person", "legal_entity"):
            table = pq.read_table(root / "feeds" / code / feed / "base" / "part-00000.parquet")
            in_feed = sorted(
                (tuple(v for k, v in r.items() if k not in ("op", "changed_at")))
                for r in table.to_pylist()
            )
            with district_login(engine, code) as conn:
                in_view = sorted(
                    tuple(v for k, v in r._mapping.items() if k != "changed_at")
                    for r in conn.execute(sa.text(f"select * from share_{code}.{feed}"))
                )
            assert in_view == in_feed and in_view, (code, feed)
        with engine.connect() as admin:
            some_id = admin.scalar(
                sa.text("select id_number from library.person where left(division_code, 6) = :c"),
                {"c": code},
            )
        with district_login(engine, code) as conn:
            assert (
                conn.scalar(
                    sa.text(f"select count(*) from share_{code}.person where id_number = :p"),
                    {"p": pseudonym(key, some_id)},
                )
                == 1
            )


@pytest.mark.postgres
@pytest.mark.slow
def test_row_level_security_is_a_second_wall_and_strays_are_revoked(chain, monkeypatch, capsys):
    from tierflow.cli import main

    engine, _root = chain
    monkeypatch.setattr("tierflow.sharing.views.default_engine", lambda: engine)
    with engine.begin() as conn:  # an operator's mistake: another district's view granted
        conn.execute(sa.text("grant usage on schema share_500104 to district_500103"))
        conn.execute(sa.text("grant select on share_500104.person to district_500103"))
        conn.execute(sa.text("grant usage on schema library to district_500103"))
        conn.execute(sa.text("grant select on library.person to district_500103"))
    with district_login(engine, "500103") as conn:
        assert conn.scalar(sa.text("select count(*) from share_500104.person")) == 0
        # no policy lets a district role read the table itself: row-level security denies all
        assert conn.scalar(sa.text("select count(*) from library.person")) == 0
    assert main(["share", "refresh", "--as-of", AS_OF.isoformat(), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["districts"]["500103"]["rebuilt"] is False  # its policy did not change
    assert set(result["districts"]["500103"]["revoked"]) == {
        "library.person",
        "share_500104.person",
        "schema share_500104",
        "schema library",
    }
    assert ("library", "person") not in selectable(engine, "district_500103")
    assert ("share_500104", "person") not in selectable(engine, "district_500103")
    with engine.connect() as conn:
        assert conn.scalar(sa.text("select to_regprocedure('share.clearance_of(text)')")) is None
        assert conn.scalar(sa.text("select to_regprocedure('share.current_clearance()')")) is None


def changed_lists(cat: Catalog) -> Catalog:
    """The lists after a day of decisions: one rejected, one expired, one narrowed, one
    revoked demand, and a field put on the negative list."""
    demands = []
    for d in cat.demand.demands:
        if d.id == REJECTED:
            d = d.model_copy(update={"status": "rejected", "approved_on": None})
        elif d.id == EXPIRED:
            d = d.model_copy(update={"expires_on": AS_OF})
        elif d.id == NARROWED:
            d = d.model_copy(update={"fields": tuple(f for f in d.fields if f != "address")})
        elif d.id == REVOKED:
            d = d.model_copy(update={"status": "revoked"})
        demands.append(Demand.model_validate(d.model_dump()))
    negative = NegativeList(
        entries=(
            *cat.negative.entries,
            NegativeEntry(
                dataset=NEGATIVE_FIELD[0],
                field=NEGATIVE_FIELD[1],
                legal_basis="测试：法定代表人姓名暂停共享",
            ),
        )
    )
    return cat.model_copy(
        update={
            "demand": DemandList(consumers=cat.demand.consumers, demands=tuple(demands)),
            "negative": negative,
        }
    )


def feed_keys(path: Path, column: str) -> set:
    return {
        v
        for part in sorted(path.glob("*.parquet"))
        for v in pq.read_table(part)[column].to_pylist()
    }


def digests(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


@pytest.mark.postgres
@pytest.mark.slow
def test_the_demand_lifecycle_closes_views_and_sends_purge_notices(chain, monkeypatch):
    from tierflow.sink.ledger import ack_feed
    from tierflow.sink.run import sink
    from tierflow.sink.verify import verify_feed

    engine, root = chain
    monkeypatch.setenv("TIERFLOW_HOME", str(root))
    monkeypatch.setenv("TIERFLOW_PSEUDONYM_KEY", SECRET)
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)
    changed = changed_lists(catalog())
    with district_login(engine, "500104") as early:  # a session opened before the decision
        assert early.scalar(sa.text("select count(*) from share_500104.person")) > 0
        summary = sink(run_id="after", as_of=AFTER, eng=engine, cat=changed)
        # its session was ended when the view closed: it cannot keep reading
        with pytest.raises(sa.exc.DBAPIError):
            early.execute(sa.text("select count(*) from share_500104.person"))
    assert summary["purges"] == 3
    for code, demand, why in (
        ("500104", REJECTED, "rejected"),
        ("500102", EXPIRED, f"expired on {AS_OF.isoformat()}"),
        ("500103", REVOKED, "revoked"),
    ):
        assert ("share_" + code, "person") not in selectable(engine, f"district_{code}")
        notice = root / "feeds" / code / "person" / "after"
        manifest = json.loads((notice / "_manifest.json").read_text(encoding="utf-8"))
        assert manifest["purge"] is True and demand in manifest["demand_ids"]
        assert why in manifest["reason"]
        assert [c["name"] for c in manifest["schema"]] == ["op", "changed_at", "id_number"]
        assert manifest["ops"]["delete"] == manifest["rows"] > 0
        assert manifest["ops"]["insert"] == manifest["ops"]["update"] == 0
        # every key sent before, as the district received it (its pseudonyms)
        sent = feed_keys(root / "feeds" / code / "person" / "base", "id_number")
        assert feed_keys(notice, "id_number") == sent
        assert verify_feed(notice)["ok"], verify_feed(notice)["problems"]
    # the narrowed demand narrows the view and the feed
    with district_login(engine, "500106") as conn:
        columns = list(conn.execute(sa.text("select * from share_500106.person limit 0")).keys())
    assert "address" not in columns and "name" in columns
    manifest = json.loads(
        (root / "feeds" / "500106" / "person" / "after" / "_manifest.json").read_text()
    )
    assert "address" not in [c["name"] for c in manifest["schema"]]
    # the negative-list entry removes the column from every view and feed
    for code in PILOTS:
        with district_login(engine, code) as conn:
            if ("share_" + code, "legal_entity") in selectable(engine, f"district_{code}"):
                keys = conn.execute(
                    sa.text(f"select * from share_{code}.legal_entity limit 0")
                ).keys()
                assert NEGATIVE_FIELD[1] not in keys
        entity = root / "feeds" / code / "legal_entity" / "after" / "_manifest.json"
        if entity.exists():
            m = json.loads(entity.read_text())
            assert NEGATIVE_FIELD[1] not in [c["name"] for c in m["schema"]]
            assert m["withheld"][NEGATIVE_FIELD[1]].startswith("测试")
    # a re-run of the run rewrites the same bytes, purge notices included
    before = digests(root / "feeds" / "500104" / "person" / "after")
    sink(run_id="after", as_of=AFTER, eng=engine, cat=changed)
    assert digests(root / "feeds" / "500104" / "person" / "after") == before
    # acknowledging the notice ends the feed; nothing more flows until a new approval
    ack = ack_feed("500104", "after", eng=engine)
    assert ack["feeds"]["person"]["purge"] is True
    later = sink(run_id="later", as_of=AFTER, eng=engine, cat=changed)
    assert not [
        f for f in later["feeds"] if f["division_code"] == "500104" and f["feed"] == "person"
    ]
    assert not (root / "feeds" / "500104" / "person" / "later").exists()
    # a new approval starts again with a first feed of everything in force
    again = sink(run_id="again", as_of=AFTER, eng=engine, cat=catalog())
    restarted = next(
        f for f in again["feeds"] if f["division_code"] == "500104" and f["feed"] == "person"
    )
    assert restarted["watermark"]["from"] is None and restarted["ops"]["insert"] > 0
    assert ("share_500104", "person") in selectable(engine, "district_500104")
