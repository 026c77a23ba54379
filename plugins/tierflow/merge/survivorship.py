"""Survivorship rules as data: ``schemas/survivorship/<library>.yaml``, strict pydantic models.

A rule file says, per golden field of a library table, which pool columns are candidates
and how the winner is chosen. Every rule is checked against the dataset contracts when it
is loaded (unknown dataset, column or alias fails with a one-line message naming the file),
so a typo can never switch a source off silently. Two invariants hold for every field:
an empty candidate (null or blank) never wins, and an empty winner never overwrites the
current golden value (unless the field says ``on_empty: clear``).
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tierflow.config import schemas_dir
from tierflow.contracts import (
    Catalog,
    ColumnType,
    ContractError,
    _read_yaml,
    catalog,
    one_line_error,
)

if TYPE_CHECKING:
    from pathlib import Path

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
SourceAlias = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")]
# Library tables a reference may point at, with their key column (design §9).
REFERENCE_TARGETS = {"person": "id_number", "legal_entity": "uscc"}
# Columns every library table has that the merge maintains itself.
BOOKKEEPING_COLUMNS = frozenset({"provenance", "row_hash", "created_at", "changed_at"})


class SurvivorshipError(ContractError):
    """A survivorship file is invalid; the message names the file and the problem."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy(StrEnum):
    priority = "priority"  # first non-empty candidate in the listed order
    recency = (
        "recency"  # non-empty candidate with the latest source updated_at (ties: listed order)
    )


class Derivation(StrEnum):
    """Facts derived from the golden key when no source (and no current value) has them."""

    birth_date_from_id = "birth_date_from_id"  # GB 11643 chars 7–14
    gender_from_id = "gender_from_id"  # GB 11643 char 17: odd = '1' male, even = '2' female
    entity_kind_from_uscc = "entity_kind_from_uscc"  # GB 32100 chars 1–2
    district_from_uscc = "district_from_uscc"  # GB 32100 chars 3–8


class SourceRule(Strict):
    """How one pool feeds a library table: its dataset, key columns and row filter."""

    dataset: str | None = None  # default: the alias itself is the dataset id
    key: tuple[Identifier, ...] | None = None  # source columns matching the golden key, in order
    only: dict[Identifier, str] = {}  # keep source rows whose column equals the value (bound)
    constants: dict[Identifier, str] = {}  # pseudo-columns with a fixed value, e.g. a status
    creates_record: bool = True  # False: only enriches golden records that exist or are created


class FieldRule(Strict):
    strategy: Strategy = Strategy.priority
    sources: tuple[str, ...] = ()  # "<source alias>.<column or constant>"
    derive: Derivation | None = None
    on_empty: Literal["keep", "clear"] = "keep"

    @model_validator(mode="after")
    def _has_a_value(self) -> FieldRule:
        if not self.sources and self.derive is None:
            raise ValueError("a field needs sources or derive")
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("a field lists the same source twice")
        return self


class Reference(Strict):
    """Cross-library integrity: ``column`` must name an existing key of ``target``."""

    relation: Identifier
    column: Identifier
    target: Literal["person", "legal_entity"]
    when: dict[Identifier, str] = {}  # only rows whose golden column equals the value


class TableRule(Strict):
    key: tuple[Identifier, ...] = Field(min_length=1)
    sources: dict[SourceAlias, SourceRule] = Field(min_length=1)
    fields: dict[Identifier, FieldRule] = Field(min_length=1)
    references: tuple[Reference, ...] = ()

    @model_validator(mode="after")
    def _names_resolve(self) -> TableRule:
        for name, rule in self.fields.items():
            if name in self.key or name in BOOKKEEPING_COLUMNS:
                raise ValueError(f"field {name!r} is maintained by the merge, not by a rule")
            for ref in rule.sources:
                alias, _, column = ref.rpartition(".")
                if alias not in self.sources or not column:
                    raise ValueError(f"field {name!r}: source {ref!r} names no declared source")
            if rule.derive is not None and len(self.key) != 1:
                raise ValueError(f"field {name!r}: derive needs a single-column key")
        if not any(s.creates_record for s in self.sources.values()):
            raise ValueError("at least one source must create records")
        relations = [r.relation for r in self.references]
        if len(set(relations)) != len(relations):
            raise ValueError("reference relations must be unique")
        for reference in self.references:
            for column in (reference.column, *reference.when):
                if column not in self.fields:
                    raise ValueError(
                        f"reference {reference.relation!r} names unknown field {column!r}"
                    )
        return self

    def dataset_of(self, alias: str) -> str:
        return self.sources[alias].dataset or alias

    def source_key(self, alias: str) -> tuple[str, ...]:
        return self.sources[alias].key or self.key

    def columns_of(self, alias: str) -> list[str]:
        """Source columns (and constants) the field rules read from ``alias``, in rule order."""
        wanted: list[str] = []
        for rule in self.fields.values():
            for ref in rule.sources:
                source, _, column = ref.rpartition(".")
                if source == alias and column not in wanted:
                    wanted.append(column)
        return wanted


class LibraryRules(Strict):
    library: Identifier  # the file's name, one of the catalog's libraries
    tables: dict[Identifier, TableRule] = Field(min_length=1)

    @property
    def datasets(self) -> tuple[str, ...]:
        """Every dataset feeding the library, sorted (the order locks are taken in)."""
        return tuple(sorted({t.dataset_of(a) for t in self.tables.values() for a in t.sources}))


def _check_against_contracts(rules: LibraryRules, cat: Catalog) -> None:
    """Every dataset, column and filter must exist in the contracts (raises ValueError)."""
    known = {d.id: d for d in cat.datasets}
    for table_name, table in rules.tables.items():
        for alias, source in table.sources.items():
            dataset_id = table.dataset_of(alias)
            dataset = known.get(dataset_id)
            if dataset is None:
                raise ValueError(
                    f"{table_name}: source {alias!r} names unknown dataset {dataset_id!r}"
                )
            if dataset.library != rules.library:
                raise ValueError(
                    f"{table_name}: dataset {dataset_id} feeds {dataset.library}, not {rules.library}"
                )
            if dataset.updated_at is None:
                raise ValueError(f"{table_name}: dataset {dataset_id} has no updated_at column")
            columns = {c.name for c in dataset.columns}
            key = table.source_key(alias)
            if len(key) != len(table.key):
                raise ValueError(
                    f"{table_name}: source {alias!r} key has {len(key)} columns, the table {len(table.key)}"
                )
            clashes = set(source.constants) & columns
            if clashes:
                raise ValueError(
                    f"{table_name}: constant {sorted(clashes)[0]!r} shadows a column of {dataset_id}"
                )
            for column in (*key, *source.only):
                if column not in columns:
                    raise ValueError(f"{table_name}: {dataset_id} has no column {column!r}")
            for column in table.columns_of(alias):
                if column not in columns and column not in source.constants:
                    raise ValueError(f"{table_name}: {dataset_id} has no column {column!r}")


def load_rules_file(
    path: Path, cat: Catalog | None = None, *, check_name: bool = True
) -> LibraryRules:
    """Load one rule file; any problem raises SurvivorshipError with a one-line message.

    ``check_name=False`` skips the file-name check (broken-file fixtures have their own names).
    """
    try:
        rules = LibraryRules.model_validate(_read_yaml(path))
    except ContractError as exc:
        raise SurvivorshipError(str(exc)) from None
    except ValidationError as exc:
        raise SurvivorshipError(one_line_error(path, exc)) from None
    if check_name and path.stem != rules.library:
        raise SurvivorshipError(
            f"{path.name}: file name must be the library {rules.library!r}.yaml"
        )
    cat = cat or catalog()
    if rules.library not in cat.libraries:
        raise SurvivorshipError(
            f"{path.name}: library: unknown library {rules.library!r}"
            f" (known: {', '.join(cat.libraries)})"
        )
    try:
        _check_against_contracts(rules, cat)
    except ValueError as exc:
        raise SurvivorshipError(f"{path.name}: {exc}") from None
    return rules


def rules_dir() -> Path:
    return schemas_dir() / "survivorship"


def libraries() -> tuple[str, ...]:
    """The project's libraries: one per file in ``schemas/survivorship/``, in name order."""
    return catalog().libraries


def load_rules(library: str) -> LibraryRules:
    """The project's rules for ``library`` (a file name of ``schemas/survivorship/``)."""
    names = libraries()
    if library not in names:
        raise SurvivorshipError(f"unknown library {library!r} (known: {', '.join(names)})")
    return _rules_at(rules_dir(), library)


@cache
def _rules_at(folder: Path, library: str) -> LibraryRules:
    return load_rules_file(folder / f"{library}.yaml")


def references_to(target: str) -> list[tuple[str, Reference]]:
    """(library, reference) pairs of every rule file whose references point at ``target``."""
    found: list[tuple[str, Reference]] = []
    for library in libraries():
        for table in load_rules(library).tables.values():
            found.extend((library, r) for r in table.references if r.target == target)
    return found


# Types of derived fields (the other fields take their first source column's type).
DERIVED_TYPES = {Derivation.birth_date_from_id: ColumnType.date}


def library_columns(table: TableRule, cat: Catalog) -> dict[str, ColumnType]:
    """Column → type: the key's from the first source's contract, a field's from its first
    source column (a constant is text), or from its derivation."""
    first = next(iter(table.sources))
    dataset = cat.dataset(table.dataset_of(first))
    columns = {
        own: dataset.column(column).type
        for own, column in zip(table.key, table.source_key(first), strict=True)
    }
    for name, rule in table.fields.items():
        typed = [
            cat.dataset(table.dataset_of(alias)).column(column).type
            for alias, _, column in (ref.rpartition(".") for ref in rule.sources)
            if column not in table.sources[alias].constants
        ]
        columns[name] = typed[0] if typed else DERIVED_TYPES.get(rule.derive, ColumnType.string)
    return columns
