"""Data contracts: strict pydantic models for everything under ``schemas/``.

A dataset is declared only here (its YAML file); the suites, the pool tables and
the ingest DAGs are all derived from it. Unknown keys are rejected so a typo in
a contract fails loudly instead of silently switching a check off.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tierflow.config import schemas_dir
from tierflow.errors import TierflowError

if TYPE_CHECKING:
    from pathlib import Path


class ContractError(TierflowError, ValueError):
    """A contract file is invalid; the message names the file and the problem."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnType(StrEnum):
    string = "string"
    integer = "integer"
    decimal = "decimal"
    date = "date"
    timestamp = "timestamp"


class Semantic(StrEnum):
    """Value kinds with a custom, vectorised validity rule (design §4)."""

    citizen_id = "citizen_id"
    uscc = "uscc"
    division_code = "division_code"
    wkt_polygon = "wkt_polygon"
    phone = "phone"
    person_name = "person_name"


class Severity(StrEnum):
    block = "block"  # failing row is quarantined
    warn = "warn"  # failing row is accepted and counted


class Sharing(StrEnum):
    unconditional = "无条件"
    conditional = "有条件"
    not_shared = "不予共享"


class Frequency(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


class PairRule(StrEnum):
    birth_date_matches_id = "birth_date_matches_id"
    gender_matches_id = "gender_matches_id"
    not_before = "not_before"  # column 0 >= column 1 (both present)
    holder_id_matches_kind = "holder_id_matches_kind"
    in_city_box = "in_city_box"  # (longitude, latitude)


Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
# The bureau's internal codes of the functional zones (schemas/divisions.yaml): 5099xx. No
# real ID or USCC carries one; a zone's residents and enterprises carry its host district's.
INTERNAL_ZONE_PREFIX = "5099"


class Column(Strict):
    name: Identifier
    label: str = Field(min_length=1)
    type: ColumnType
    nullable: bool = True
    level: int = Field(ge=1, le=4, description="classification 1 public … 4 highly sensitive")
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(default=None, ge=1)
    semantic: Semantic | None = None
    not_future: bool = False
    severity: Severity = Severity.block
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(
                    f"pattern {value!r} is not a valid regular expression: {exc}"
                ) from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if self.enum is not None and len(set(self.enum)) != len(self.enum):
            raise ValueError(f"column {self.name}: enum has duplicate values")
        if (self.min is not None or self.max is not None) and self.type not in (
            ColumnType.integer,
            ColumnType.decimal,
        ):
            raise ValueError(
                f"column {self.name}: min/max only apply to integer or decimal columns"
            )
        if self.not_future and self.type not in (ColumnType.date, ColumnType.timestamp):
            raise ValueError(
                f"column {self.name}: not_future only applies to date or timestamp columns"
            )
        if self.type == ColumnType.string and self.max_length is None:
            raise ValueError(f"column {self.name}: string columns need max_length")
        return self


class PairCheck(Strict):
    rule: PairRule
    columns: tuple[Identifier, Identifier]
    severity: Severity = Severity.block


class Dataset(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z]+\.[a-z_]+$")]
    title: str
    label: str
    department: Annotated[str, Field(pattern=r"^[a-z]+$")]
    owner: str
    library: Identifier | None = None  # one of the catalog's libraries (survivorship files)
    thematic: str | None = None
    sharing: Sharing
    frequency: Frequency
    key: tuple[Identifier, ...] = Field(min_length=1)
    updated_at: Identifier | None = None
    columns: tuple[Column, ...] = Field(min_length=1)
    checks: tuple[PairCheck, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> Dataset:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"duplicate column names: {', '.join(dupes)}")
        by_name = {c.name: c for c in self.columns}
        for key in self.key:
            if key not in by_name:
                raise ValueError(f"key column {key!r} is not declared in columns")
            if by_name[key].nullable:
                raise ValueError(f"key column {key!r} must not be nullable")
        if self.updated_at is not None:
            col = by_name.get(self.updated_at)
            if col is None or col.type != ColumnType.timestamp:
                raise ValueError(f"updated_at {self.updated_at!r} must name a timestamp column")
        for check in self.checks:
            for name in check.columns:
                if name not in by_name:
                    raise ValueError(f"check {check.rule} names unknown column {name!r}")
        if (self.library is None) == (self.thematic is None):
            raise ValueError("exactly one of library or thematic must be set")
        return self

    @property
    def department_dataset(self) -> tuple[str, str]:
        department, name = self.id.split(".", 1)
        return department, name

    @property
    def table_name(self) -> str:
        """Name of the dataset's table in schema ``pool`` (dots are not SQL-friendly)."""
        return self.id.replace(".", "_")

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


class Division(Strict):
    code: Annotated[str, Field(pattern=r"^\d{6}$")]
    name: str
    tier: Literal["district", "county", "zone"]
    is_pilot: bool = False
    functional_zone: bool = False
    centroid: tuple[float, float] | None = Field(
        default=None,
        description="approximate (longitude, latitude) seat; seeds generated boundaries",
    )
    host_district: Annotated[str, Field(pattern=r"^\d{6}$")] | None = Field(
        default=None,
        description=(
            "functional zones only: the GB/T 2260 district the zone lies in, whose code its "
            "residents' ID numbers and its enterprises' credit codes carry (design §4)"
        ),
    )


class DivisionReference(Strict):
    city_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    city_name: str
    divisions: tuple[Division, ...]
    generator_townships_per_district: int = Field(ge=1, le=99)
    generator_villages_per_township: int = Field(ge=1, le=99)

    @model_validator(mode="after")
    def _unique_and_flagged(self) -> DivisionReference:
        codes = [d.code for d in self.divisions]
        if len(set(codes)) != len(codes):
            raise ValueError("division codes are not unique")
        by_code = {d.code: d for d in self.divisions}
        for d in self.divisions:
            if (d.tier == "zone") != d.functional_zone:
                raise ValueError(f"division {d.code}: tier 'zone' and functional_zone must agree")
            internal = d.code.startswith(INTERNAL_ZONE_PREFIX)
            if d.functional_zone != internal:
                raise ValueError(
                    f"division {d.code}: internal codes {INTERNAL_ZONE_PREFIX}xx are for "
                    "functional zones only, and every functional zone has one"
                )
            if not d.functional_zone:
                if d.host_district is not None:
                    raise ValueError(f"division {d.code}: only a functional zone has a host")
                continue
            host = by_code.get(d.host_district or "")
            if host is None or host.functional_zone:
                raise ValueError(
                    f"functional zone {d.code}: host_district must name a district or county "
                    f"of this reference, not {d.host_district!r}"
                )
        return self

    def id_code(self, code: str) -> str:
        """The division code ID numbers and credit codes carry for ``code``: a functional
        zone's host district, any other division's own code."""
        division = next(d for d in self.divisions if d.code == code)
        return division.host_district or division.code

    @property
    def pilot_codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.divisions if d.is_pilot)


class Responsibility(Strict):
    department: Annotated[str, Field(pattern=r"^[a-z]+$")]
    dataset: str
    frequency: Frequency
    due_time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "06:00"
    due_weekday: int | None = Field(default=None, ge=0, le=6)
    due_day: int | None = Field(default=None, ge=1, le=28)

    @model_validator(mode="after")
    def _calendar(self) -> Responsibility:
        if self.frequency == Frequency.weekly and self.due_weekday is None:
            raise ValueError(f"{self.dataset}: weekly deliveries need due_weekday")
        if self.frequency == Frequency.monthly and self.due_day is None:
            raise ValueError(f"{self.dataset}: monthly deliveries need due_day")
        return self


class Consumer(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    name: str
    kind: Literal["district", "department"]
    division_code: Annotated[str, Field(pattern=r"^\d{6}$")] | None = None
    clearance: int = Field(ge=1, le=4)


class Demand(Strict):
    id: Annotated[str, Field(pattern=r"^D-\d{4}-\d{3,}$")]
    consumer: str
    dataset: str
    fields: tuple[Identifier, ...] = Field(min_length=1)
    pseudonymise: tuple[Identifier, ...] = ()
    purpose: str = Field(min_length=4)
    status: Literal["approved", "rejected", "pending", "revoked", "expired"]
    approved_on: dt.date | None = None
    expires_on: dt.date | None = None

    @model_validator(mode="after")
    def _approval_dated(self) -> Demand:
        if self.status in ("approved", "expired") and self.approved_on is None:
            raise ValueError(f"demand {self.id}: an {self.status} demand needs approved_on")
        if self.expires_on and self.approved_on and self.expires_on < self.approved_on:
            raise ValueError(f"demand {self.id}: expires_on is before approved_on")
        return self


class DemandList(Strict):
    consumers: tuple[Consumer, ...]
    demands: tuple[Demand, ...]


class NegativeEntry(Strict):
    dataset: str
    field: Identifier | None = None  # None: the whole dataset is never shared
    legal_basis: str = Field(min_length=4)


class ResponsibilityList(Strict):
    responsibilities: tuple[Responsibility, ...]
    # Who may decide a demand for a department's datasets: Airflow user names, the ones the
    # review DAG assigns its Human-in-the-loop requests to. A department not named here has
    # no assigned approvers (any user allowed to answer Required Actions may decide).
    approvers: dict[
        Annotated[str, Field(pattern=r"^[a-z]+$")],
        tuple[Annotated[str, Field(min_length=1, max_length=100)], ...],
    ] = Field(default_factory=dict)


class NegativeList(Strict):
    entries: tuple[NegativeEntry, ...]


class Catalog(Strict):
    datasets: tuple[Dataset, ...]
    # A library is one survivorship file, ``schemas/survivorship/<library>.yaml``: the set of
    # libraries is data, read from the file names (the rules themselves load in tierflow.merge).
    libraries: tuple[Identifier, ...] = Field(min_length=1)
    divisions: DivisionReference
    responsibility: ResponsibilityList
    demand: DemandList
    negative: NegativeList

    @model_validator(mode="after")
    def _cross_references(self) -> Catalog:
        by_id = {d.id: d for d in self.datasets}
        for ds in self.datasets:
            if ds.library is not None and ds.library not in self.libraries:
                raise ValueError(
                    f"dataset {ds.id} names unknown library {ds.library!r}"
                    f" (known: {', '.join(self.libraries)})"
                )
        for r in self.responsibility.responsibilities:
            ds = by_id.get(r.dataset)
            if ds is None:
                raise ValueError(f"responsibility list names unknown dataset {r.dataset!r}")
            if ds.department != r.department:
                raise ValueError(
                    f"responsibility for {r.dataset}: department {r.department!r} does not own it"
                )
        departments = {ds.department for ds in self.datasets}
        for department, users in self.responsibility.approvers.items():
            if department not in departments:
                raise ValueError(f"approvers named for unknown department {department!r}")
            if not users:
                raise ValueError(f"approvers of {department}: name at least one user")
        consumers = {c.id for c in self.demand.consumers}
        for d in self.demand.demands:
            if d.consumer not in consumers:
                raise ValueError(f"demand {d.id} names unknown consumer {d.consumer!r}")
            ds = by_id.get(d.dataset)
            if ds is None:
                raise ValueError(f"demand {d.id} names unknown dataset {d.dataset!r}")
            cols = {c.name for c in ds.columns}
            for f in (*d.fields, *d.pseudonymise):
                if f not in cols:
                    raise ValueError(f"demand {d.id} asks for unknown field {d.dataset}.{f}")
        for e in self.negative.entries:
            ds = by_id.get(e.dataset)
            if ds is None:
                raise ValueError(f"negative list names unknown dataset {e.dataset!r}")
            if e.field is not None and e.field not in {c.name for c in ds.columns}:
                raise ValueError(f"negative list names unknown field {e.dataset}.{e.field}")
        return self

    def dataset(self, dataset_id: str) -> Dataset:
        for ds in self.datasets:
            if ds.id == dataset_id:
                return ds
        known = ", ".join(sorted(d.id for d in self.datasets))
        raise ContractError(f"unknown dataset {dataset_id!r} (known: {known})")


# libyaml's safe loader where PyYAML was built with it: the catalog loads in every task process
# and every DAG-folder parse, and the pure-Python loader spent ~0.3 s on it.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> object:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ContractError(f"{path.name}: not valid YAML{where}: {problem}") from None
    except OSError as exc:
        raise ContractError(f"{path.name}: cannot read: {exc.strerror}") from None


def one_line_error(path: Path, exc: ValidationError) -> str:
    """A model's first validation error as one line naming the file and the field: the form
    every YAML file of the project (contracts, survivorship rules, feeds) is refused in."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{path.name}: {where}: {first['msg'].removeprefix('Value error, ')}"


def _validate(model: type[BaseModel], path: Path, data: object) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ContractError(one_line_error(path, exc)) from None


def load_dataset_file(path: Path) -> Dataset:
    dataset = _validate(Dataset, path, _read_yaml(path))
    assert isinstance(dataset, Dataset)
    if path.stem != dataset.id:
        raise ContractError(f"{path.name}: file name must be the dataset id {dataset.id!r}.yaml")
    return dataset


def load_catalog(root: Path | None = None) -> Catalog:
    """Load and cross-check every contract under ``root`` (default: the project's schemas/)."""
    root = root or schemas_dir()
    files = sorted((root / "datasets").glob("*.yaml"))
    if not files:
        raise ContractError(f"no dataset contracts under {root / 'datasets'}")
    data = {
        "datasets": [load_dataset_file(p) for p in files],
        "libraries": tuple(p.stem for p in sorted((root / "survivorship").glob("*.yaml"))),
        "divisions": _validate(
            DivisionReference, root / "divisions.yaml", _read_yaml(root / "divisions.yaml")
        ),
        "responsibility": _validate(
            ResponsibilityList,
            root / "lists/responsibility.yaml",
            _read_yaml(root / "lists/responsibility.yaml"),
        ),
        "demand": _validate(
            DemandList, root / "lists/demand.yaml", _read_yaml(root / "lists/demand.yaml")
        ),
        "negative": _validate(
            NegativeList, root / "lists/negative.yaml", _read_yaml(root / "lists/negative.yaml")
        ),
    }
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ContractError(f"catalog: {first['msg']}") from exc


def catalog() -> Catalog:
    """The project's catalog (``TIERFLOW_SCHEMAS_DIR``), loaded once per process and folder."""
    return _catalog_at(schemas_dir())


@cache
def _catalog_at(root: Path) -> Catalog:
    return load_catalog(root)
