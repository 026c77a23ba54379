"""The whole daily chain under ``airflow dags test``: per DAG, how much is data work, how much Airflow.

    python -m bench.chain [--scale 20000] [--mode inprocess|cli] [--quick]

In one run, on scratch PostgreSQL databases of the local server (a warehouse, Airflow's metadata
database) and a temporary AIRFLOW_HOME / TIERFLOW_HOME, all dropped or removed at the end:

1. ``tierflow.generate`` writes the demo's landing data (``tierflow demo``: scale 20000, seed 7,
   defect rate 0.02) under TIERFLOW_HOME/landing, with their ``.ready`` markers.
2. airflow: every DAG of the daily chain, in DAG order (each ingest DAG, the four merge DAGs,
   the sink, aggregate and audit DAGs; production chains them by Assets, here they run one
   after the other), each as one ``airflow dags test`` run:
   - ``--mode inprocess`` (default): ``dag.test()`` for each DAG in one interpreter. This is
     the code ``airflow dags test DAG_ID`` runs (the CLI parses the DAG folder, then calls
     ``dag.test()``); the per-process start-up of the CLI is measured apart, once, and reported.
   - ``--mode cli``: a real ``airflow dags test DAG_ID`` process per DAG.
3. direct: ``tierflow.chain.run_chain`` on the same landing files, in a fresh warehouse, in a
   fresh interpreter: the same functions with no Airflow at all.

Data work is measured two ways, both printed:
- "data": wall time spent inside the tierflow functions the task bodies call
  (``tierflow.tasks.pending_deliveries`` / ``ingest_deliveries``, ``merge_library``,
  ``load_thematic``, ``sink``, ``aggregate``, ``audit_deliveries`` / ``check_deliveries``), timed
  by wrapping them in the process that runs the tasks (in-process mode only: the CLI's task
  processes are not instrumented);
- "TI": the task instances' durations from Airflow's metadata database (includes the Task SDK's
  per-task work: context, XCom push, asset events, callbacks, and in the first task of each
  process the in-process execution API's start).
Airflow overhead = DAG wall − data. In cli mode the task processes are not instrumented, so data
is the direct run's time for the same calls ("direct" is the same work with no Airflow at all).

Why in-process by default: ``airflow dags test`` is process start + airflow import + DAG-folder
parse + ``dag.test()``, and ``dag.test()`` starts the in-process execution API once per process.
At demo scale on the 2-core development machine, ``--mode cli`` took 257 s for the 18 runs
(10–25 s each, of which ~10 s is that start-up) against ~32 s in one process: the per-process
start-up would be ~90% of the figure and drown the per-task overhead this case is about. The
in-process run prints its estimate of that per-process cost; ``--mode cli`` measures it.
``--quick`` (CI): scale 2000, every DAG, in-process, about a minute.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bench.common import (
    SERVER_URL,
    case_main,
    environ,
    machine_facts,
    run_case,
    scratch_database,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS = PROJECT_ROOT / "dags"
DEMO = {"seed": 7, "defect_rate": 0.02}  # tierflow demo's defaults (cli_pipeline._demo)

# module:function of what each DAG's task bodies call (dags/*.py)
DAG_PROBES = (
    "tierflow.tasks:pending_deliveries",
    "tierflow.tasks:ingest_deliveries",
    "tierflow.tasks:gx_reports",
    "tierflow.merge.run:merge_library",
    "tierflow.sink.thematic:load_thematic",
    "tierflow.sink.run:sink",
    "tierflow.aggregate.tiers:aggregate",
    "tierflow.quality.audit:audit_deliveries",
    "tierflow.quality.audit:check_deliveries",
)
# what tierflow.chain.run_chain calls (it imports them inside the function, so patching holds)
DIRECT_PROBES = (
    "tierflow.ingest.pipeline:ingest_file",
    "tierflow.ingest.gx:validate_delivery",  # the GX report, counted with its ingest DAG
    "tierflow.merge.run:merge_library",
    "tierflow.sink:sink",
    "tierflow.aggregate:aggregate",
    "tierflow.quality.audit:audit_deliveries",
)


# --- timing the tierflow functions ------------------------------------------------------------


class Probes:
    """Wraps module functions so every call's wall time is recorded (not nested calls twice)."""

    def __init__(self, targets: tuple[str, ...]) -> None:
        import importlib

        started = time.perf_counter()
        self.calls: list[tuple[str, tuple, float]] = []
        self.depth = 0
        for target in targets:
            module_name, name = target.split(":")
            module = importlib.import_module(module_name)
            setattr(module, name, self._wrap(target, getattr(module, name)))
        self.import_seconds = time.perf_counter() - started

    def _wrap(self, target: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.depth += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.calls.append((target, args, time.perf_counter() - started))

        return timed

    def take(self) -> list[tuple[str, tuple, float]]:
        calls, self.calls = self.calls, []
        return calls


def dag_order() -> list[str]:
    from tierflow.chain import merge_order
    from tierflow.contracts import catalog

    ingest = [f"ingest__{d.table_name}" for d in catalog().datasets]
    return [
        *ingest,
        *(f"merge__{lib}" for lib in merge_order()),
        "sink__districts",
        "aggregate__tiers",
        "audit__deliveries",
    ]


def _task_instances(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .all()
        )
        return {
            "tis": len(tis),
            "ti_seconds": sum(ti.duration or 0.0 for ti in tis),
            "failed": sorted({ti.task_id for ti in tis if ti.state == "failed"}),
        }


def case_airflow(mode: str, dags: list[str]) -> dict[str, Any]:
    """Every DAG once under dag.test() semantics; Airflow is configured by the environment."""
    started = time.perf_counter()
    probes = Probes(DAG_PROBES) if mode == "inprocess" else None
    import airflow.settings  # noqa: F401 - configures the ORM from the environment
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS)) if mode == "inprocess" else None
    setup = time.perf_counter() - started
    runs = []
    for dag_id in dags:
        began = time.perf_counter()
        if bag is not None:
            run = bag.dags[dag_id].test()
            state, run_id = str(run.state), run.run_id
        else:
            airflow = Path(sys.executable).with_name("airflow")
            done = subprocess.run(
                [str(airflow), "dags", "test", dag_id], capture_output=True, text=True
            )
            state, run_id = _last_run(dag_id, done)
        wall = time.perf_counter() - began
        row = {"dag_id": dag_id, "state": state, "wall": wall, **_task_instances(dag_id, run_id)}
        if probes is not None:
            row["data"] = sum(seconds for _, _, seconds in probes.take())
        runs.append(row)
    return {
        "setup_seconds": setup,
        "probe_import_seconds": probes.import_seconds if probes else None,
        "runs": runs,
    }


def _last_run(dag_id: str, done: subprocess.CompletedProcess) -> tuple[str, str]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = (
            session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        )
        if run is None:
            raise RuntimeError(f"airflow dags test {dag_id} made no run: {done.stderr[-2000:]}")
        return str(run.state), run.run_id


def case_direct(landing: str) -> dict[str, Any]:
    """tierflow.chain.run_chain on the landing files, each stage's call timed, no Airflow."""
    from tierflow.contracts import catalog

    probes = Probes(DIRECT_PROBES)
    from tierflow.chain import run_chain

    started = time.perf_counter()
    result = run_chain(Path(landing))
    total = time.perf_counter() - started
    tables = {d.id: d.table_name for d in catalog().datasets}
    per_dag: dict[str, float] = {}
    reported = {r["delivery_id"]: r["dataset"] for r in result["gx_reports"]}
    for target, args, seconds in probes.take():
        name = target.split(":")[1]
        if name == "ingest_file":
            dag_id = f"ingest__{tables[args[1]]}"
        elif name == "validate_delivery":
            dag_id = f"ingest__{tables[reported[args[0]]]}"
        elif name == "merge_library":
            dag_id = f"merge__{args[0]}"
        else:
            dag_id = {
                "sink": "sink__districts",
                "aggregate": "aggregate__tiers",
                "audit_deliveries": "audit__deliveries",
            }[name]
        per_dag[dag_id] = per_dag.get(dag_id, 0.0) + seconds
    return {
        "seconds": total,
        "per_dag": per_dag,
        "rows_in": result["rows_in"],
        "rows_accepted": result["rows_accepted"],
        "rows_quarantined": result["rows_quarantined"],
        "audit_late": result["audit"].get("late"),
        "audit_missing": result["audit"].get("missing"),
    }


def case_cli_startup() -> dict[str, Any]:
    """What one ``airflow dags test`` process costs before and after dag.test(): a no-op CLI
    command (interpreter + airflow import + config + ORM) and the DAG folder parse it does."""
    airflow = Path(sys.executable).with_name("airflow")
    started = time.perf_counter()
    subprocess.run([str(airflow), "version"], capture_output=True, check=True)
    cli = time.perf_counter() - started
    started = time.perf_counter()
    probe = (
        "import time; t = time.perf_counter(); import airflow.settings; "
        "from airflow.dag_processing.dagbag import DagBag; "
        f"b = DagBag(dag_folder={str(DAGS)!r}); print(time.perf_counter() - t, len(b.dags))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    parse = float(done.stdout.strip().splitlines()[-1].split()[0])
    return {"seconds": cli + time.perf_counter() - started, "cli": cli, "import_parse": parse}


# --- the driver -------------------------------------------------------------------------------


@contextlib.contextmanager
def airflow_home(tmp: Path) -> Iterator[float]:
    """Airflow configured like tests/conftest.py: a scratch PostgreSQL metadata database,
    migrated; the environment (inherited by the case children) points at it."""
    name = f"airflow_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    url = sa.engine.make_url(SERVER_URL).set(drivername="postgresql+psycopg2", database=name)
    home = tmp / "airflow"
    home.mkdir()
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url.render_as_string(hide_password=False),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "TIERFLOW_SENSOR_POKE_SECONDS": "2",
        "TIERFLOW_RETRY_DELAY_SECONDS": "1",
        "TIERFLOW_DEADLINE_ALERTS": "0",  # dag.test() of Airflow 3.3.2 fails on deadline alerts
    }
    try:
        with environ(env):
            started = time.perf_counter()
            airflow = Path(sys.executable).with_name("airflow")
            done = subprocess.run(
                [str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=900
            )
            if done.returncode != 0:
                raise RuntimeError(f"airflow db migrate failed: {done.stderr[-2000:]}")
            yield time.perf_counter() - started
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@contextlib.contextmanager
def tierflow_home(path: Path) -> Iterator[Path]:
    path.mkdir(parents=True)
    with environ({"TIERFLOW_HOME": str(path)}):
        yield path


def leftovers(tmp: Path, names: list[str]) -> list[str]:
    """Processes we started still alive, scratch databases still there, temp dirs not removed."""
    import psutil

    left = [f"process {p.pid} {p.name()}" for p in psutil.Process().children(recursive=True)]
    engine = sa.create_engine(SERVER_URL)
    with engine.connect() as conn:
        existing = set(conn.scalars(sa.text("select datname from pg_database")))
    engine.dispose()
    left += [f"database {n}" for n in names if n in existing]
    if tmp.exists():
        left.append(f"directory {tmp}")
    return left


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=None, help="tierflow demo scale (20000)")
    parser.add_argument("--mode", choices=["inprocess", "cli"], default="inprocess")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: scale 2000")
    args = parser.parse_args(argv)
    scale = args.scale or (2_000 if args.quick else 20_000)
    from tierflow.generate import generate

    os.environ.setdefault("TIERFLOW_PSEUDONYM_KEY", "bench-chain-pseudonym-key")
    # the feed signing key: base64 of a fixed 32-byte Ed25519 seed (a bench key, public here)
    os.environ.setdefault(
        "TIERFLOW_SIGNING_KEY",
        base64.b64encode(hashlib.sha256(b"bench-chain-signing-key").digest()).decode(),
    )
    tmp = Path(tempfile.mkdtemp(prefix="tierflow-bench-chain-"))
    databases: list[str] = []
    began = time.perf_counter()
    try:
        with airflow_home(tmp) as migrate_s:
            databases.append(
                sa.engine.make_url(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).database
            )
            with (
                tierflow_home(tmp / "home") as home,
                scratch_database("tierflow_bench_chain") as url,
            ):
                databases.append(sa.engine.make_url(url).database)
                started = time.perf_counter()
                generated = generate(out=home, scale=scale, **DEMO)
                generate_s = time.perf_counter() - started
                dags = dag_order()
                started = time.perf_counter()
                flow = run_case("bench.chain", "airflow", mode=args.mode, dags=dags)
                flow_s = time.perf_counter() - started
            with tierflow_home(tmp / "direct"), scratch_database("tierflow_bench_chain") as url:
                databases.append(sa.engine.make_url(url).database)
                direct = run_case("bench.chain", "direct", landing=str(home / "landing"))
            startup = run_case("bench.chain", "cli_startup")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, scale, generated, migrate_s, generate_s, flow, flow_s, direct, startup)
    left = leftovers(tmp, databases)
    print(
        f"\nleft behind: {', '.join(left) if left else 'nothing'}"
        f" (bench wall {time.perf_counter() - began:.1f} s)"
    )
    failed = [r["dag_id"] for r in flow["runs"] if r["state"] != "success"]
    unexpected = [d for d in failed if d != "audit__deliveries"]
    return 1 if unexpected or left else 0


def report(args, scale, generated, migrate_s, generate_s, flow, flow_s, direct, startup) -> None:
    files = generated.get("files", [])
    rows = sum(f.get("rows", 0) for f in files)
    print(f"daily chain, demo scale {scale:,}: {len(files)} delivery files, {rows:,} rows")
    print(f"machine: {json.dumps(machine_facts())}")
    print(
        f"setup (not in the chain): airflow db migrate {migrate_s:.1f} s, generate {generate_s:.1f} s,"
        f" airflow import + DagBag in the runner {flow['setup_seconds']:.1f} s"
        + (
            f", tierflow imports before timing {flow['probe_import_seconds']:.1f} s"
            if flow["probe_import_seconds"] is not None
            else ""
        )
    )
    inprocess = args.mode == "inprocess"
    runs = flow["runs"]
    print(
        f"\nairflow: {len(runs)} DAG runs, "
        + ("dag.test() in one process" if inprocess else "one `airflow dags test` process each")
    )
    print(
        f"{'dag':<34}{'state':>9}{'TIs':>5}{'wall s':>9}{'data s':>9}{'TI s':>8}"
        f"{'overhead s':>12}{'direct s':>10}"
    )
    total = {"wall": 0.0, "data": 0.0, "ti": 0.0, "direct": 0.0, "tis": 0}
    for r in runs:
        r["direct"] = direct["per_dag"].get(r["dag_id"], 0.0)
        # the CLI's task processes are not instrumented: their data work is the direct timing
        r.setdefault("data", r["direct"])
        r["overhead"] = r["wall"] - r["data"]
        for key, value in (
            ("wall", r["wall"]),
            ("data", r["data"]),
            ("ti", r["ti_seconds"]),
            ("direct", r["direct"]),
            ("tis", r["tis"]),
        ):
            total[key] += value
        print(
            f"{r['dag_id']:<34}{r['state']:>9}{r['tis']:>5}{r['wall']:>9.1f}{r['data']:>9.1f}"
            f"{r['ti_seconds']:>8.1f}{r['overhead']:>12.1f}{r['direct']:>10.1f}"
            + (f"  failed: {', '.join(r['failed'])}" if r["failed"] else "")
        )
    overhead = total["wall"] - total["data"]
    print(
        f"{'total':<34}{'':>9}{total['tis']:>5}{total['wall']:>9.1f}{total['data']:>9.1f}"
        f"{total['ti']:>8.1f}{overhead:>12.1f}{total['direct']:>10.1f}"
    )
    basis = (
        "the tierflow calls timed inside the tasks"
        if inprocess
        else "the same calls timed in the direct run"
    )
    print(
        f"\nAirflow overhead: {overhead:.1f} s of {total['wall']:.1f} s = "
        f"{100 * overhead / total['wall']:.0f}%; data work {total['data']:.1f} s"
        f" = {100 * total['data'] / total['wall']:.0f}% (data: {basis})"
    )
    ti_over = total["wall"] - total["ti"]
    print(
        f"  by TI durations instead: overhead {ti_over:.1f} s = {100 * ti_over / total['wall']:.0f}%"
        f" (TIs also hold the Task SDK's own per-task work: {total['ti'] - total['data']:.1f} s)"
    )
    print(
        f"  direct run_chain, no Airflow, fresh interpreter: {direct['seconds']:.1f} s"
        f" (same stages {total['direct']:.1f} s); airflow wall / direct {total['wall'] / direct['seconds']:.2f}x;"
        f" rows in {direct['rows_in']:,}, accepted {direct['rows_accepted']:,},"
        f" quarantined {direct['rows_quarantined']:,}"
    )
    if inprocess and len(runs) > 2:
        # dag.test() starts the in-process execution API once per process: the first run's extra
        others = sorted(r["overhead"] for r in runs[1:])
        first_extra = max(0.0, runs[0]["overhead"] - others[len(others) // 2])
        per_dag = startup["cli"] + startup["import_parse"] + first_extra
        print(
            f"  one `airflow dags test` process per DAG (--mode cli) would add about {per_dag:.1f} s"
            f" per DAG: CLI start {startup['cli']:.1f} s + airflow import and DAG-folder parse"
            f" {startup['import_parse']:.1f} s + the execution API start {first_extra:.1f} s"
            f" (paid once here, in the first run); {per_dag * (len(runs) - 1):.0f} s more for"
            f" {len(runs)} DAGs, plus GX imported again in each ingest process"
        )
    print(
        f"peak RSS: airflow runner {flow['peak_rss_mib']:,.0f} MiB, direct {direct['peak_rss_mib']:,.0f} MiB;"
        f" airflow part {flow_s:.1f} s wall including its interpreter start"
    )
    audit = next((r for r in runs if r["dag_id"] == "audit__deliveries"), None)
    if audit and audit["state"] != "success":
        print(
            f"note: audit__deliveries ended {audit['state']} ({', '.join(audit['failed'])}): the audit"
            f" found late/missing deliveries (direct run: late {direct['audit_late']},"
            f" missing {direct['audit_missing']}); that is the product working, not a bench failure"
        )


if __name__ == "__main__":
    if "--case" in sys.argv:
        case_main({"airflow": case_airflow, "direct": case_direct, "cli_startup": case_cli_startup})
    else:
        raise SystemExit(main())
