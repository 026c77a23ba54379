"""How the code is put together: no import cycles in ``tierflow``, no runtime code in migrations.

Both are read from the source (``ast``), not by importing it, so they cost nothing and see
imports inside functions too (a lazy import that closes a cycle is still a cycle: it only
moves the failure to the first call).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "tierflow"
MIGRATIONS = PACKAGE / "migrations"

# What a migration may import from tierflow: (module, name) → why. Everything else is code that
# may change after the migration was written, so a migration freezes what it needs (as SQL,
# or as data in sql/migrations/, like 0003's district boundaries) instead.
MIGRATION_MAY_IMPORT = {
    ("tierflow.contracts", "load_catalog"): (
        "the contracts are data (schemas/): which datasets and pilot districts exist"
    ),
    ("tierflow.pool", "ensure_pool_table"): (
        "pool tables are derived from the contracts by one rule, which ingest and"
        " `tierflow db upgrade` (pools of datasets added later) share; a frozen copy in a"
        " migration would be a second rule drifting from the pools ingest writes into"
    ),
    ("tierflow.pool", "pool_table_ddl"): "the same pool rule (0005 re-creates pools partitioned)",
    ("tierflow.pool", "quote"): "identifier quoting, as the pool rule quotes",
    ("tierflow.migrate", "run_sql_file"): (
        "runs a migration's own SQL file one statement at a time (Citus forwards DDL to its"
        " workers as the text it received, and a worker refuses several statements at once)"
    ),
    ("tierflow.divisions", "load_reference"): (
        "loads the division reference (data from schemas/) into its table"
    ),
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> list[tuple[str, str | None]]:
    """(module, imported name or None) of every import, at any depth, except those under
    ``if TYPE_CHECKING:`` (never run)."""
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.extend((node.module, alias.name) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path, skip: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Module → the package's modules it imports (``from p import m``: the module p.m)."""
    paths = {
        _module_name(p, root): p
        for p in sorted(root.rglob("*.py"))
        if not any(part in skip for part in p.relative_to(root).parts)
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets = set()
        for module, imported in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            submodule = f"{module}.{imported}"
            if submodule in paths:
                targets.add(submodule)
            elif module in paths:
                targets.add(module)
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_tierflow_has_no_import_cycles() -> None:
    graph = import_graph(PACKAGE, skip=("migrations",))
    assert len(graph) > 100 and "tierflow.sink.ledger" in graph["tierflow.sink.run"]
    assert cycles(graph) == []


def test_a_cycle_is_found_even_through_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from pkg import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n"
    )
    (package / "e.py").write_text("import pkg.d\n")
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.b", "pkg.c"]]


def runtime_imports(path: Path) -> list[str]:
    """The tierflow imports of a migration file outside MIGRATION_MAY_IMPORT."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{module}" + (f".{name}" if name else "")
        for module, name in _imports(tree)
        if (module == "tierflow" or module.startswith("tierflow."))
        and (module, name) not in MIGRATION_MAY_IMPORT
    ]


def test_migrations_import_no_runtime_code() -> None:
    files = sorted(MIGRATIONS.rglob("*.py"))
    assert len(files) >= 10  # env.py and every revision
    assert {path.name: runtime_imports(path) for path in files if runtime_imports(path)} == {}


def test_a_migration_importing_runtime_code_is_caught(tmp_path: Path) -> None:
    migration = tmp_path / "0099_example.py"
    migration.write_text(
        "def upgrade():\n"
        "    from tierflow.contracts import load_catalog\n"
        "    from tierflow.sink.geofence import Geofence\n"
        "    import tierflow.sharing.views\n"
    )
    assert runtime_imports(migration) == [
        "tierflow.sink.geofence.Geofence",
        "tierflow.sharing.views",
    ]


def test_every_name_imported_from_tierflow_exists_lazy_imports_included() -> None:
    """A name removed from a module (an enum made data, a function moved) breaks the code that
    imports it inside a function only when that function runs; here, every such import is
    resolved now (``from tierflow.x import y``: y is a submodule or an attribute of x)."""
    import importlib

    root = PACKAGE.parents[1]
    missing = []
    paths = [
        *PACKAGE.rglob("*.py"),
        *(root / "dags").rglob("*.py"),
        *(root / "bench").rglob("*.py"),
    ]
    paths += (root / "tests").rglob("*.py")
    for path in sorted(paths):
        if "migrations" in path.relative_to(root).parts:
            continue
        for module, imported in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if not module.startswith("tierflow") or imported is None:
                continue
            owner = importlib.import_module(module)
            if not hasattr(owner, imported):
                try:
                    importlib.import_module(f"{module}.{imported}")
                except ModuleNotFoundError:
                    missing.append(f"{path.relative_to(root)}: {module}.{imported}")
    assert missing == []
