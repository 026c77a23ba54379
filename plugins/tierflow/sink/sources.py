"""Where each district feed comes from: a library or thematic table and the dataset fields it carries.

Feeds are data: one file per feed under ``schemas/feeds/`` (strict model, unknown keys
refused), naming a library table of the survivorship rules or a thematic dataset. Its
columns, their kinds and which dataset fields fill each column are derived, never written
twice: from the survivorship rules (``schemas/survivorship/``: key + every field with
sources, in rule order) or from the dataset's contract (every column but ``updated_at``).
Demands name dataset fields (``psb.household.name``); ``fields`` maps them onto the
table's columns, so the demand and negative lists, stated per dataset, apply to the
columns they end up in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError, model_validator

from tierflow.config import schemas_dir
from tierflow.contracts import (
    Catalog,
    ColumnType,
    ContractError,
    Identifier,
    Strict,
    _read_yaml,
    catalog,
    one_line_error,
)
from tierflow.errors import TierflowError

if TYPE_CHECKING:
    from pathlib import Path

Kind = Literal["text", "date", "double", "bigint", "timestamp"]


@dataclass(frozen=True)
class FeedSource:
    name: str
    table: str  # schema-qualified, unquoted: the versions read (history or append-only table)
    key: tuple[str, ...]
    columns: dict[str, Kind]  # table column → value kind, in output order
    fields: dict[str, dict[str, tuple[str, ...]]]  # dataset id → {dataset field: table columns}
    scope: Literal["division", "geofence"] = "division"
    append_only: bool = False  # rows never change once loaded: every change is an insert
    rename: dict[str, str] = field(default_factory=dict)  # table column → name in the feed
    # ``table`` holds closed versions only, the current ones are ``current_table``'s rows (a
    # library table: its versions are both, see sql/sink/versions_union.sql)
    closed_history: bool = False

    @property
    def version_time(self) -> str:
        return "loaded_at" if self.append_only else "valid_from"

    @property
    def current_table(self) -> str:
        """The table of current records (the pull views read it): the history's base table."""
        return self.table.removesuffix("_history")

    @property
    def version_tables(self) -> tuple[str, ...]:
        """The tables the feed's versions are read from (schema-qualified, unquoted)."""
        return (self.table, self.current_table) if self.closed_history else (self.table,)

    @property
    def current_changed_at(self) -> str:
        """The current table's column saying when each record last changed."""
        return "loaded_at" if self.append_only else "changed_at"

    def scope_sql(self, alias: str, district: str) -> str:
        """SQL: the row ``alias`` lies in the district ``district`` (an SQL expression): by its
        division code's first 6 digits, or by the geofenced district of a GPS point."""
        if self.scope == "geofence":
            return f'{alias}."district_code" = {district}'
        return f'left({alias}."division_code", 6) = {district}'

    def output_name(self, column: str) -> str:
        return self.rename.get(column, column)

    def sources_of(self, column: str) -> list[tuple[str, str]]:
        """(dataset, field) pairs that fill ``column``."""
        return [
            (dataset, f)
            for dataset, mapping in self.fields.items()
            for f, cols in mapping.items()
            if column in cols
        ]


KINDS: dict[ColumnType, Kind] = {
    ColumnType.string: "text",
    ColumnType.integer: "bigint",
    ColumnType.decimal: "double",
    ColumnType.date: "date",
    ColumnType.timestamp: "timestamp",
}


class FeedFile(Strict):
    """One ``schemas/feeds/<name>.yaml``: a library table or a thematic dataset's table."""

    name: Identifier
    library: Identifier | None = None  # with ``table``: a table of that library's rules
    dataset: str | None = None  # with ``table``: the schema-qualified versions table
    table: str
    scope: Literal["division", "geofence"] = "division"
    append_only: bool = False
    rename: dict[Identifier, Identifier] = {}

    @model_validator(mode="after")
    def _one_origin(self) -> FeedFile:
        if (self.library is None) == (self.dataset is None):
            raise ValueError("a feed names either a library or a dataset")
        if self.dataset is not None and "." not in self.table:
            raise ValueError("a dataset feed names its schema-qualified table")
        return self


def _library_source(spec: FeedFile, cat: Catalog) -> FeedSource:
    from tierflow.merge.survivorship import library_columns, load_rules

    rules = load_rules(spec.library)  # type: ignore[arg-type]
    if spec.table not in rules.tables:
        raise ContractError(f"feed {spec.name}: library {spec.library} has no table {spec.table!r}")
    table = rules.tables[spec.table]
    types = library_columns(table, cat)  # the library table's column types: one rule for both
    fields: dict[str, dict[str, list[str]]] = {}
    kinds: dict[str, Kind] = {}

    def fill(alias: str, column: str, target: str) -> None:
        dataset = cat.dataset(table.dataset_of(alias))
        kinds.setdefault(target, KINDS[types[target]])
        targets = fields.setdefault(dataset.id, {}).setdefault(column, [])
        if target not in targets:
            targets.append(target)

    for alias in table.sources:
        for own, column in zip(table.key, table.source_key(alias), strict=True):
            fill(alias, column, own)
    for name, rule in table.fields.items():
        for ref in rule.sources:
            alias, _, column = ref.rpartition(".")
            if column not in table.sources[alias].constants:
                fill(alias, column, name)
    order = [*table.key, *(n for n, r in table.fields.items() if n in kinds and r.sources)]
    return FeedSource(
        name=spec.name,
        table=f"library.{spec.table}_history",
        closed_history=not spec.append_only,
        key=tuple(table.key),
        columns={c: kinds[c] for c in order},
        fields={d: {f: tuple(cols) for f, cols in m.items()} for d, m in fields.items()},
        scope=spec.scope,
        append_only=spec.append_only,
        rename=dict(spec.rename),
    )


def _dataset_source(spec: FeedFile, cat: Catalog) -> FeedSource:
    dataset = cat.dataset(spec.dataset)  # type: ignore[arg-type]
    columns = [c for c in dataset.columns if c.name != dataset.updated_at]
    return FeedSource(
        name=spec.name,
        table=spec.table,
        key=tuple(dataset.key),
        columns={c.name: KINDS[c.type] for c in columns},
        fields={dataset.id: {c.name: (c.name,) for c in columns}},
        scope=spec.scope,
        append_only=spec.append_only,
        rename=dict(spec.rename),
    )


def load_feed_file(
    path: Path, cat: Catalog | None = None, *, check_name: bool = True
) -> FeedSource:
    """One feed file; any problem raises ContractError with a one-line message.

    ``check_name=False`` skips the file-name check (broken-file fixtures have their own names).
    """
    try:
        spec = FeedFile.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ContractError(one_line_error(path, exc)) from None
    if check_name and path.stem != spec.name:
        raise ContractError(f"{path.name}: file name must be the feed's name {spec.name!r}.yaml")
    cat = cat or catalog()
    try:
        source = _library_source(spec, cat) if spec.library else _dataset_source(spec, cat)
    except (KeyError, TierflowError) as exc:
        message = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
        raise ContractError(f"{path.name}: {message.removeprefix(f'feed {spec.name}: ')}") from None
    unknown = set(spec.rename) - set(source.columns)
    if unknown:
        raise ContractError(f"{path.name}: rename names unknown column {sorted(unknown)[0]!r}")
    return source


def load_feeds(root: Path | None = None, cat: Catalog | None = None) -> tuple[FeedSource, ...]:
    folder = (root or schemas_dir()) / "feeds"
    return tuple(load_feed_file(p, cat) for p in sorted(folder.glob("*.yaml")))


def feeds() -> tuple[FeedSource, ...]:
    """The project's feeds, loaded once per process and schemas folder (file-name order)."""
    return _feeds_at(schemas_dir())


@cache
def _feeds_at(root: Path) -> tuple[FeedSource, ...]:
    return load_feeds(root)


def feed_source(name: str) -> FeedSource:
    for source in feeds():
        if source.name == name:
            return source
    raise KeyError(f"unknown feed {name!r} (known: {', '.join(s.name for s in feeds())})")
