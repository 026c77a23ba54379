"""Division reference (design §3): what the contracts declare, plus the official tiers."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

from tierflow.sql_files import statement

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Connection

    from tierflow.contracts import DivisionReference


def reference_rows(ref: DivisionReference) -> list[dict]:
    rows = [
        dict(
            code=ref.city_code,
            name=ref.city_name,
            tier="city",
            parent_code=None,
            is_pilot=False,
            functional_zone=False,
            source="schemas/divisions.yaml",
        )
    ]
    rows += [
        dict(
            code=d.code,
            name=d.name,
            tier=d.tier,
            parent_code=ref.city_code,
            is_pilot=d.is_pilot,
            functional_zone=d.functional_zone,
            source="schemas/divisions.yaml",
        )
        for d in ref.divisions
    ]
    return rows


def load_reference(conn: Connection, ref: DivisionReference) -> int:
    rows = reference_rows(ref)
    conn.execute(statement("reference", "division_upsert"), rows)
    return len(rows)


def load_official_townships(conn: Connection, csv_path: Path, known_districts: set[str]) -> int:
    """Load the statistical township table (code,name[,areaCode,…]); rows of unknown districts are refused."""
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"code", "name"} <= set(reader.fieldnames):
            raise ValueError(f"{csv_path.name}: expected columns code,name")
        rows = []
        for record in reader:
            code = record["code"].strip()
            if len(code) != 9 or not code.isdigit():
                raise ValueError(f"{csv_path.name}: township code {code!r} is not 9 digits")
            if code[:6] not in known_districts:
                raise ValueError(
                    f"{csv_path.name}: township {code} is under unknown district {code[:6]}"
                )
            rows.append(
                dict(
                    code=code,
                    name=record["name"].strip(),
                    tier="township",
                    parent_code=code[:6],
                    is_pilot=False,
                    functional_zone=False,
                    source=csv_path.name,
                )
            )
    if rows:
        conn.execute(statement("reference", "division_upsert"), rows)
    return len(rows)


def official_township_prefixes(conn: Connection) -> set[str]:
    return set(conn.scalars(statement("reference", "townships")))
