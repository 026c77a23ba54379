"""What each task read and wrote, told to Airflow's lineage collector in OpenLineage's naming.

A task body (``tierflow.tasks``) builds a :class:`Lineage` from what its stage returned (the
files, partitions, tables and folders it actually touched) and calls :func:`report`. The
OpenLineage provider reads the collector when the task ends (hook lineage: a TaskFlow task has
no extractor, so this is how a Python task reports its datasets) and converts each URI with
the providers' converters: ``postgres://host:port/db/schema/table`` becomes namespace
``postgres://host:port`` and name ``db.schema.table`` (postgres provider), ``file:///abs/path``
becomes namespace ``file`` and name ``/abs/path`` (common-io provider). tierflow's own
``tierflow://`` Asset URIs (``tierflow.assets``) only link DAGs; lineage never uses them, so
they need no converter.

Only names reach the collector: host, port and database of the warehouse, never its user or
password, and never a secret. Nothing here runs outside an Airflow task, and nothing is
imported from Airflow until a task reports: DAG files import this module at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True)
class Lineage:
    """The URIs one task read (inputs) and wrote (outputs), in order, without repeats."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    @classmethod
    def of(cls, inputs: Iterable[str] = (), outputs: Iterable[str] = ()) -> Lineage:
        written = tuple(dict.fromkeys(outputs))
        # a table a task reads back after writing it is its output, not also its input
        read = tuple(u for u in dict.fromkeys(inputs) if u not in written)
        return cls(read, written)


def warehouse_authority() -> tuple[str, str]:
    """``host:port`` and database OpenLineage names the warehouse by (no user, no password)."""
    from tierflow.db import engine
    from tierflow.settings import settings

    url = engine().url  # the one the stage just used (cached): nothing is started here
    host = settings().lineage_postgres or f"{url.host or 'localhost'}:{url.port or 5432}"
    return host, url.database or "postgres"


def table_uri(qualified: str, authority: tuple[str, str] | None = None) -> str:
    """``schema.table`` (unquoted) → ``postgres://host:port/db/schema/table``."""
    schema, _, table = qualified.partition(".")
    if not table or '"' in qualified:
        raise ValueError(f"lineage needs an unquoted schema.table, got {qualified!r}")
    host, database = authority or warehouse_authority()
    return f"postgres://{host}/{database}/{schema}/{table}"


def file_uri(path: str | Path) -> str:
    """A file or folder as its storage URL: ``file://`` + absolute path on disk, the object
    URL on object storage (``s3://bucket/key``: namespace ``s3://bucket``, name the key, as
    OpenLineage names S3 objects). Never credentials: a storage path carries none."""
    from tierflow import storage

    if storage.is_remote(path):
        return storage.url(path)
    return Path(path).absolute().as_uri()


def in_task() -> bool:
    """True inside a running Airflow task (``dag.test()`` included)."""
    from airflow.sdk import get_current_context

    try:
        get_current_context()
    except RuntimeError:
        return False
    return True


def report(lineage: Lineage) -> None:
    """Hand the task's inputs and outputs to Airflow's hook lineage collector.

    Callers build the record only when :func:`in_task` (outside a task, the CLI, the chain,
    benches, nobody listens). Without a lineage reader (OpenLineage not configured) the
    collector is Airflow's no-op one.
    """
    from airflow.sdk.lineage import get_hook_lineage_collector

    collector = get_hook_lineage_collector()
    for uri in lineage.inputs:
        collector.add_input_asset(_CONTEXT, uri=uri)
    for uri in lineage.outputs:
        collector.add_output_asset(_CONTEXT, uri=uri)


def fresh_collector(context: Any = None) -> None:
    """Start a task with an empty collector (``on_execute_callback`` of every tierflow task).

    A task runner process runs one task, but ``dag.test()`` runs a whole DAG in one process
    and the collector is a process-wide singleton: without this a task would also report
    what the tasks before it touched.
    """
    from airflow.sdk.lineage import get_hook_lineage_collector

    get_hook_lineage_collector.cache_clear()


class _TierflowContext:
    """Who reported (the collector keys entries by reporter; tierflow uses no Airflow hook)."""


_CONTEXT = _TierflowContext()


def of_statements(statements: Iterable[str]) -> Lineage:
    """The tables a task's SQL reads and writes, as PostgreSQL's parser in OpenLineage sees them."""
    from openlineage_sql import parse

    parsed = parse(list(statements), dialect="postgres")  # (its default_schema drops inputs)
    names = [
        [f"{t.schema or 'public'}.{t.name}" for t in tables]
        for tables in (parsed.in_tables, parsed.out_tables)
    ]
    authority = warehouse_authority()
    return Lineage.of(
        inputs=[table_uri(n, authority) for n in names[0]],
        outputs=[table_uri(n, authority) for n in names[1]],
    )
