import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.conftest import create_database, drop_database
from tierflow import migrate

pytestmark = pytest.mark.postgres

HEAD = "0013"  # the newest migration

SCHEMAS = {"ref", "pool", "library", "quality", "feed", "thematic", "merge_work"}
LIBRARY_TABLES = {"person", "legal_entity", "land_parcel", "address", "e_license"}


def _schemas(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(sa.text("select schema_name from information_schema.schemata")))


def _tables(engine: sa.Engine, schema: str) -> set[str]:
    return set(sa.inspect(engine).get_table_names(schema=schema))


def test_migrations_go_up_down_and_up_again_on_a_fresh_database():
    name, engine = create_database("tierflow_migrate")
    try:
        assert migrate.upgrade(eng=engine) == HEAD
        assert SCHEMAS <= _schemas(engine)
        assert LIBRARY_TABLES | {f"{t}_history" for t in LIBRARY_TABLES} <= _tables(
            engine, "library"
        )
        assert {"psb_household", "trans_truck_gps", "lic_issuance"} <= _tables(engine, "pool")
        assert len(_tables(engine, "pool")) == 11
        history_columns = {
            c["name"] for c in sa.inspect(engine).get_columns("person_history", schema="library")
        }
        assert {"valid_from", "valid_to", "provenance"} <= history_columns
        with engine.connect() as conn:
            assert (
                conn.scalar(sa.text("select count(*) from ref.division where tier <> 'city'")) == 41
            )
        assert migrate.downgrade(eng=engine) is None
        assert not (SCHEMAS & _schemas(engine))
        assert migrate.upgrade(eng=engine) == HEAD
        assert migrate.upgrade(eng=engine) == HEAD  # idempotent
    finally:
        engine.dispose()
        drop_database(name)


def test_compact_provenance_migration_converts_records_merged_before_it():
    """0004 turns nested provenance objects into field -> delivery id, and back on downgrade."""
    name, engine = create_database("tierflow_migrate_provenance")
    nested = (
        '{"name": {"dataset": "psb.household", "delivery_id": 1, "updated_at": "2026-03-01"},'
        ' "gender": {"derived_from": "id_number"}}'
    )
    try:
        migrate.upgrade("0003", eng=engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "insert into quality.delivery (dataset, department, file_path, file_sha256,"
                    " file_bytes, file_format, status) values"
                    " ('psb.household', 'psb', 'h.csv', 'abc', 1, 'csv', 'loaded')"
                )
            )
            for table in ("person", "person_history"):
                extra = ", valid_from" if table.endswith("history") else ""
                conn.execute(
                    sa.text(
                        f"insert into library.{table} (id_number, provenance, row_hash,"
                        f" created_at, changed_at{extra}) values ('k', cast(:p as jsonb), 'h',"
                        f" now(), now(){', now()' if extra else ''})"
                    ),
                    {"p": nested},
                )
        migrate.upgrade("0009", eng=engine)  # 0010 would drop the open version
        with engine.connect() as conn:
            for table in ("person", "person_history"):
                stored = conn.scalar(sa.text(f"select provenance from library.{table}"))
                assert stored == {"name": 1, "gender": {"derived_from": "id_number"}}
            detail = conn.scalar(
                sa.text("select library.provenance_detail(provenance) from library.person")
            )
        assert detail["name"]["dataset"] == "psb.household"
        assert (detail["name"]["delivery_id"], detail["name"]["file"]) == (1, "h.csv")
        assert detail["gender"] == {"derived_from": "id_number"}
        migrate.downgrade("0003", eng=engine)
        with engine.connect() as conn:
            back = conn.scalar(sa.text("select provenance from library.person"))
        assert back == {
            "name": {"dataset": "psb.household", "delivery_id": 1},
            "gender": {"derived_from": "id_number"},
        }
    finally:
        engine.dispose()
        drop_database(name)


def _pool_kind_and_rows(engine: sa.Engine) -> tuple[str, int, list[str]]:
    with engine.connect() as conn:
        kind = conn.scalar(
            sa.text("select relkind from pg_class where oid = 'pool.psb_household'::regclass")
        )
        rows = conn.scalar(sa.text("select count(*) from pool.psb_household"))
        partitions = conn.scalars(
            sa.text(
                "select inhrelid::regclass::text from pg_inherits"
                " where inhparent = 'pool.psb_household'::regclass order by 1"
            )
        ).all()
    return kind, rows, partitions


def test_pools_are_partitioned_by_delivery_and_the_migration_keeps_older_rows(tmp_path):
    from tierflow.generate import generate
    from tierflow.ingest.pipeline import ingest_file

    name, engine = create_database("tierflow_migrate_pool")

    def household(seed: int) -> str:
        summary = generate(tmp_path / str(seed), scale=300, seed=seed, datasets=["psb.household"])
        return summary["files"][0]["path"]

    try:
        migrate.upgrade(eng=engine)
        first = ingest_file(household(1), "psb.household", eng=engine, run_gx=False)
        kind, rows, partitions = _pool_kind_and_rows(engine)
        assert (kind, rows) == ("p", first["rows_accepted"])
        assert partitions == [f"pool.psb_household_d{first['delivery_id']}"]

        migrate.downgrade("0004", eng=engine)  # back to one plain table, rows kept
        assert _pool_kind_and_rows(engine) == ("r", first["rows_accepted"], [])
        migrate.upgrade(eng=engine)  # the plain table becomes the first partition
        assert _pool_kind_and_rows(engine) == (
            "p",
            first["rows_accepted"],
            ["pool.psb_household_legacy"],
        )

        second = ingest_file(household(2), "psb.household", eng=engine, run_gx=False)
        kind, rows, partitions = _pool_kind_and_rows(engine)
        assert rows == first["rows_accepted"] + second["rows_accepted"]
        assert partitions == sorted(
            ["pool.psb_household_legacy", f"pool.psb_household_d{second['delivery_id']}"]
        )
        with engine.connect() as conn:
            indexed = conn.scalars(
                sa.text(
                    "select indexname from pg_indexes where schemaname = 'pool' and tablename = :t"
                ),
                {"t": f"psb_household_d{second['delivery_id']}"},
            ).all()
        assert len(indexed) == 1  # the key index, built when the partition was attached
    finally:
        engine.dispose()
        drop_database(name)


def test_pool_table_types_follow_the_contract(warehouse):
    columns = {
        c["name"]: str(c["type"])
        for c in sa.inspect(warehouse).get_columns("psb_household", schema="pool")
    }
    assert columns["birth_date"] == "DATE"
    assert columns["updated_at"].startswith("TIMESTAMP")
    assert columns["_delivery_id"] == "BIGINT"


def test_delivery_rows_must_balance(warehouse):
    with pytest.raises(sa.exc.IntegrityError, match="rows_balance"), warehouse.begin() as conn:
        conn.execute(
            sa.text(
                "insert into quality.delivery (dataset, department, file_path, file_sha256, file_bytes, file_format,"
                " status, rows_in, rows_accepted, rows_quarantined) values"
                " ('psb.household', 'psb', 'x.csv', 'abc', 1, 'csv', 'loaded', 10, 5, 4)"
            )
        )


@pytest.mark.slow
def test_embedded_postgres_is_the_default_when_no_url_is_configured(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TIERFLOW_DATABASE_URL"}
    env["TIERFLOW_HOME"] = str(tmp_path / "home")
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "tierflow.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        upgraded = run("db", "upgrade", "--json")
        assert upgraded.returncode == 0, upgraded.stderr
        assert f'"revision": "{HEAD}"' in upgraded.stdout
        assert "host=" in upgraded.stdout and str(tmp_path) in upgraded.stdout.replace("%2F", "/")
        assert (tmp_path / "home" / "pg" / "PG_VERSION").exists()
        again = run("db", "current", "--json")  # reuses the running server
        assert again.returncode == 0 and f'"revision": "{HEAD}"' in again.stdout
    finally:
        stopped = run("db", "stop", "--json")
    assert stopped.returncode == 0 and '"stopped": true' in stopped.stdout


def test_a_configured_url_wins_and_a_bad_one_fails_in_one_line(tmp_path):
    env = dict(
        os.environ,
        TIERFLOW_HOME=str(tmp_path),
        TIERFLOW_DATABASE_URL="postgresql://postgres:s3cret@127.0.0.1:1/nowhere",
    )
    done = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "cannot connect to" in done.stderr
    assert "s3cret" not in done.stderr
    assert not (tmp_path / "pg").exists()


def test_a_fresh_configured_database_says_in_one_line_to_run_db_upgrade(tmp_path):
    name, engine = create_database("tierflow_fresh")
    env = dict(
        os.environ,
        TIERFLOW_HOME=str(tmp_path),
        TIERFLOW_DATABASE_URL=engine.url.render_as_string(hide_password=False),
    )
    try:
        for args in (["merge", "--library", "person"], ["sink"], ["quality", "report"]):
            done = subprocess.run(
                [sys.executable, "-m", "tierflow.cli", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 2, (args, done.stderr)
            assert done.stderr.count("\n") == 1, done.stderr
            assert "has no tierflow schema" in done.stderr
            assert "run `tierflow db upgrade`" in done.stderr
        assert migrate.current(engine) is None  # nothing was created behind the operator's back
    finally:
        engine.dispose()
        drop_database(name)


def test_a_history_kept_in_alembic_version_moves_to_tierflows_own_table():
    """Databases migrated before the split: their revision moves; Airflow's row stays."""
    name, engine = create_database("tierflow_legacy_version")
    try:
        migrate.upgrade("0006", eng=engine)
        with engine.begin() as conn:  # as the old env.py left it
            conn.execute(sa.text("alter table tierflow_alembic_version rename to alembic_version"))
            conn.execute(
                sa.text(
                    "alter table alembic_version drop constraint if exists tierflow_alembic_version_pkc"
                )
            )
        assert migrate.current(engine) == "0006"
        assert migrate.upgrade(eng=engine) == HEAD
        with engine.connect() as conn:
            assert conn.scalar(sa.text("select to_regclass('public.alembic_version')")) is None
            assert conn.scalar(sa.text("select version_num from tierflow_alembic_version")) == HEAD
    finally:
        engine.dispose()
        drop_database(name)


@pytest.mark.slow
@pytest.mark.airflow
def test_airflow_and_tierflow_migrate_one_database_side_by_side():
    """The two Alembic histories no longer collide: `airflow db migrate` on tierflow's database."""
    name, engine = create_database("tierflow_shared_with_airflow")
    try:
        assert migrate.upgrade(eng=engine) == HEAD
        url = engine.url.set(drivername="postgresql+psycopg2")
        env = dict(
            os.environ,
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=url.render_as_string(hide_password=False),
        )
        done = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "airflow"), "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert migrate.current(engine) == HEAD
        assert migrate.upgrade(eng=engine) == HEAD
        with engine.connect() as conn:
            assert conn.scalar(sa.text("select count(*) from public.alembic_version")) == 1
            assert conn.scalar(sa.text("select to_regclass('public.dag_run')")) is not None
    finally:
        engine.dispose()
        drop_database(name)


def _fillfactors(engine: sa.Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select relname, (select option_value from pg_options_to_table(reloptions)"
                " where option_name = 'fillfactor') from pg_class"
                " where relnamespace = cast('library' as regnamespace) and relkind = 'r'"
            )
        ).all()
    return dict(rows)


def test_hot_updates_migration_leaves_room_on_every_library_page_and_keeps_the_rows():
    """0009 sets fillfactor 80 on the library tables and histories and rewrites their rows."""
    name, engine = create_database("tierflow_migrate_hot")
    tables = LIBRARY_TABLES | {f"{t}_history" for t in LIBRARY_TABLES}
    try:
        migrate.upgrade("0008", eng=engine)
        with engine.begin() as conn:
            for table in ("person", "person_history"):
                extra = ", valid_from" if table.endswith("history") else ""
                conn.execute(
                    sa.text(
                        f"insert into library.{table} (id_number, address, provenance, row_hash,"
                        f" created_at, changed_at{extra}) select 'k' || n, 'a' || n, '{{}}', 'h', now(), now()"
                        f"{', now()' if extra else ''} from generate_series(1, 500) as n"
                    )
                )
        migrate.upgrade("0009", eng=engine)
        fillfactors = _fillfactors(engine)
        assert {t: fillfactors[t] for t in tables} == dict.fromkeys(tables, "80")
        with engine.connect() as conn:
            for table in ("person", "person_history"):
                count, addresses = conn.execute(
                    sa.text(f"select count(*), count(distinct address) from library.{table}")
                ).one()
                assert (count, addresses) == (500, 500)
            # the rewritten pages keep a fifth free: 500 narrow rows spread over more pages
            assert (
                conn.scalar(
                    sa.text("select relpages from pg_class where oid = 'library.person'::regclass")
                )
                >= 4
            )
        migrate.downgrade("0008", eng=engine)
        fillfactors = _fillfactors(engine)
        assert {t: fillfactors[t] for t in tables} == dict.fromkeys(tables)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("select count(*) from library.person_history")) == 500
    finally:
        engine.dispose()
        drop_database(name)


HISTORY_ROWS = """
select id_number, address, provenance::text, row_hash, created_at, changed_at, valid_from, valid_to
from library.person_history order by id_number, valid_from
"""


def test_closed_history_migration_keeps_every_version_through_down_and_up():
    """0010 deletes the open versions (each is its library row); down writes them back."""
    name, engine = create_database("tierflow_migrate_closed")
    t1, t2, t3 = "2026-01-01 08:00+00", "2026-02-01 08:00+00", "2026-03-01 08:00+00"
    versions = [  # k1 changed twice (two closed versions, one open), k2 never changed
        ("k1", "a1", "h1", t1, t1, t2),
        ("k1", "a2", "h2", t1, t2, t3),
        ("k1", "a3", "h3", t1, t3, None),
        ("k2", "b1", "g1", t2, t2, None),
    ]
    try:
        migrate.upgrade("0009", eng=engine)
        with engine.begin() as conn:
            for key, address, row_hash, created, valid_from, valid_to in versions:
                row = {"k": key, "a": address, "h": row_hash, "c": created, "f": valid_from}
                conn.execute(
                    sa.text(
                        "insert into library.person_history (id_number, address, provenance,"
                        " row_hash, created_at, changed_at, valid_from, valid_to)"
                        " values (:k, :a, '{\"address\": 7}', :h, :c, :f, :f, :t)"
                    ),
                    {**row, "t": valid_to},
                )
                if valid_to is None:
                    conn.execute(
                        sa.text(
                            "insert into library.person (id_number, address, provenance,"
                            " row_hash, created_at, changed_at)"
                            " values (:k, :a, '{\"address\": 7}', :h, :c, :f)"
                        ),
                        row,
                    )
        with engine.connect() as conn:
            before = conn.execute(sa.text(HISTORY_ROWS)).all()
            library = conn.execute(sa.text("select * from library.person order by 1")).all()
        assert len(before) == 4
        assert migrate.upgrade(eng=engine) == HEAD
        with engine.connect() as conn:
            closed = conn.execute(sa.text(HISTORY_ROWS)).all()
            assert conn.execute(sa.text("select * from library.person order by 1")).all() == library
        assert closed == [r for r in before if r.valid_to is not None] and len(closed) == 2
        migrate.downgrade("0009", eng=engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text(HISTORY_ROWS)).all() == before
        assert migrate.upgrade(eng=engine) == HEAD
        with engine.connect() as conn:
            assert conn.execute(sa.text(HISTORY_ROWS)).all() == closed
        # an open version that is not its library row stops the migration, nothing deleted
        migrate.downgrade("0009", eng=engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text("update library.person set row_hash = 'other' where id_number = 'k2'")
            )
        with pytest.raises(Exception, match="library.person_history holds an open version"):
            migrate.upgrade(eng=engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text(HISTORY_ROWS)).all() == before
    finally:
        engine.dispose()
        drop_database(name)


def test_gx_report_migration_counts_deliveries_validated_in_the_load_as_done():
    """0011 adds the GX report's state to the ledger: a delivery GX validated inside the load
    (gx_scope set) is done, one loaded without GX has none; a downgrade drops the columns."""
    name, engine = create_database("tierflow_migrate_gx")
    insert = (
        "insert into quality.delivery (dataset, department, file_path, file_sha256, file_bytes,"
        " file_format, status, gx_scope, finished_at) values"
        " ('psb.household', 'psb', 'a.csv', 'a', 1, 'csv', 'loaded', 'full', now()),"
        " ('psb.household', 'psb', 'b.csv', 'b', 1, 'csv', 'loaded', null, now())"
    )
    try:
        migrate.upgrade("0010", eng=engine)
        with engine.begin() as conn:
            conn.execute(sa.text(insert))
        migrate.upgrade(eng=engine)
        states = "select file_path, gx_status, gx_validated_at = finished_at from quality.delivery"
        with engine.connect() as conn:
            rows = sorted(tuple(r) for r in conn.execute(sa.text(states)))
        assert rows == [("a.csv", "done", True), ("b.csv", None, None)]
        migrate.downgrade("0010", eng=engine)
        with engine.connect() as conn:
            columns = set(
                conn.scalars(
                    sa.text(
                        "select column_name from information_schema.columns"
                        " where table_schema = 'quality' and table_name = 'delivery'"
                    )
                )
            )
            assert conn.scalar(sa.text("select count(*) from quality.delivery")) == 2
        assert not {"gx_status", "gx_success", "gx_validated_at"} & columns
        assert "gx_scope" in columns
    finally:
        engine.dispose()
        drop_database(name)
