"""Where each district feed comes from: a library or thematic table and the dataset fields it carries.

A feed is named after its table (``person``, ``legal_entity`` …). Demands name dataset
fields (``psb.household.name``); ``fields`` maps them onto the table's columns, so the
demand and negative lists, stated per dataset, apply to the columns they end up in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "date", "double", "bigint", "timestamp"]


@dataclass(frozen=True)
class FeedSource:
    name: str
    table: str  # schema-qualified, unquoted: the versions read (history or append-only table)
    key: tuple[str, ...]
    columns: dict[str, Kind]  # table column → value kind, in output order
    fields: dict[str, dict[str, str]]  # dataset id → {dataset field: table column}
    scope: Literal["division", "geofence"] = "division"
    append_only: bool = False  # rows never change once loaded: every change is an insert
    rename: dict[str, str] = field(default_factory=dict)  # table column → name in the feed

    @property
    def version_time(self) -> str:
        return "loaded_at" if self.append_only else "valid_from"

    @property
    def current_table(self) -> str:
        """The table of current records (the pull views read it): the history's base table."""
        return self.table.removesuffix("_history")

    @property
    def current_changed_at(self) -> str:
        """The current table's column saying when each record last changed."""
        return "loaded_at" if self.append_only else "changed_at"

    def output_name(self, column: str) -> str:
        return self.rename.get(column, column)

    def sources_of(self, column: str) -> list[tuple[str, str]]:
        """(dataset, field) pairs that fill ``column``."""
        return [
            (dataset, f)
            for dataset, mapping in self.fields.items()
            for f, col in mapping.items()
            if col == column
        ]


def _same(*names: str) -> dict[str, str]:
    return {n: n for n in names}


FEEDS: tuple[FeedSource, ...] = (
    FeedSource(
        name="person",
        table="library.person_history",
        key=("id_number",),
        columns={
            "id_number": "text",
            "name": "text",
            "gender": "text",
            "ethnicity": "text",
            "birth_date": "date",
            "division_code": "text",
            "address": "text",
            "status": "text",
            "death_date": "date",
            "phone": "text",
            "employer_uscc": "text",
            "insurance_status": "text",
        },
        fields={
            "psb.household": _same(
                "id_number",
                "name",
                "gender",
                "ethnicity",
                "birth_date",
                "division_code",
                "address",
                "status",
            ),
            "nhc.vital_event": {"id_number": "id_number", "event_date": "death_date"},
            "hrss.social_insurance": {
                "id_number": "id_number",
                "employer_uscc": "employer_uscc",
                "status": "insurance_status",
                "phone": "phone",
            },
        },
    ),
    FeedSource(
        name="legal_entity",
        table="library.legal_entity_history",
        key=("uscc",),
        columns={
            "uscc": "text",
            "name": "text",
            "entity_type": "text",
            "legal_rep_name": "text",
            "legal_rep_id_number": "text",
            "registered_capital": "double",
            "established_on": "date",
            "status": "text",
            "division_code": "text",
            "address": "text",
            "industry_code": "text",
            "tax_status": "text",
            "credit_grade": "text",
        },
        fields={
            "samr.enterprise": _same(
                "uscc",
                "name",
                "entity_type",
                "legal_rep_name",
                "legal_rep_id_number",
                "registered_capital",
                "established_on",
                "status",
                "division_code",
                "address",
                "industry_code",
            ),
            "mca.social_org": _same(
                "uscc", "name", "legal_rep_name", "legal_rep_id_number", "division_code", "address"
            ),
            "tax.taxpayer": _same("uscc", "tax_status", "credit_grade"),
        },
    ),
    FeedSource(
        name="e_license",
        table="library.e_license_history",
        key=("license_type_code", "license_number"),
        columns={
            "license_type_code": "text",
            "license_number": "text",
            "holder_kind": "text",
            "holder_id": "text",
            "issuing_authority": "text",
            "issued_on": "date",
            "effective_from": "date",
            "effective_until": "date",
            "status": "text",
            "division_code": "text",
        },
        fields={
            "lic.issuance": {
                **_same(
                    "license_type_code",
                    "license_number",
                    "holder_kind",
                    "holder_id",
                    "issuing_authority",
                    "issued_on",
                    "status",
                    "division_code",
                ),
                "valid_from": "effective_from",
                "valid_until": "effective_until",
            }
        },
        rename={"effective_from": "valid_from", "effective_until": "valid_until"},
    ),
    FeedSource(
        name="address",
        table="library.address_history",
        key=("address_id",),
        columns={
            "address_id": "text",
            "full_address": "text",
            "division_code": "text",
            "longitude": "double",
            "latitude": "double",
        },
        fields={
            "mnr.address": _same(
                "address_id", "full_address", "division_code", "longitude", "latitude"
            )
        },
    ),
    FeedSource(
        name="land_parcel",
        table="library.land_parcel_history",
        key=("parcel_id",),
        columns={
            "parcel_id": "text",
            "land_use_code": "text",
            "area_m2": "double",
            "geometry_wkt": "text",
            "division_code": "text",
        },
        fields={
            "mnr.land_parcel": _same(
                "parcel_id", "land_use_code", "area_m2", "geometry_wkt", "division_code"
            )
        },
    ),
    FeedSource(
        name="service_case",
        table="thematic.service_case_history",
        key=("case_id",),
        columns={
            "case_id": "text",
            "item_code": "text",
            "applicant_kind": "text",
            "applicant_id": "text",
            "department_code": "text",
            "division_code": "text",
            "accepted_at": "timestamp",
            "completed_at": "timestamp",
            "status": "text",
            "rating": "bigint",
        },
        fields={
            "gov.service_case": _same(
                "case_id",
                "item_code",
                "applicant_kind",
                "applicant_id",
                "department_code",
                "division_code",
                "accepted_at",
                "completed_at",
                "status",
                "rating",
            )
        },
    ),
    FeedSource(
        name="truck_gps",
        table="thematic.truck_gps",
        key=("plate_number", "recorded_at"),
        columns={
            "plate_number": "text",
            "recorded_at": "timestamp",
            "longitude": "double",
            "latitude": "double",
            "speed_kmh": "double",
            "heading": "bigint",
        },
        fields={
            "trans.truck_gps": _same(
                "plate_number", "recorded_at", "longitude", "latitude", "speed_kmh", "heading"
            )
        },
        scope="geofence",
        append_only=True,
    ),
)


def feed_source(name: str) -> FeedSource:
    for source in FEEDS:
        if source.name == name:
            return source
    raise KeyError(f"unknown feed {name!r} (known: {', '.join(s.name for s in FEEDS)})")
