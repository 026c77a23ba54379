"""``tierflow feeds verify DIR``: does a delivered feed match its manifest?

Checks what a district can check on its side: ``_SUCCESS`` and ``_manifest.json`` exist,
every listed file exists with the listed size, SHA-256 and row count, no unlisted part
file is present, each file's schema is the manifest's, and the op counts add up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from tierflow.sink.publish import MANIFEST, SUCCESS, sha256_of


def verify_feed(path: Path | str) -> dict[str, Any]:
    """{"ok", "path", "rows", "files", "problems"}; never raises for a bad feed."""
    path = Path(path)
    problems: list[str] = []
    result: dict[str, Any] = {"path": str(path), "ok": False, "rows": 0, "files": 0}
    if not path.is_dir():
        return {**result, "problems": [f"{path}: not a directory"]}
    if not (path / SUCCESS).is_file():
        problems.append(f"{SUCCESS} missing: the feed is not complete")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {**result, "problems": [*problems, f"{MANIFEST} unreadable: {exc}"]}
    listed = {f["path"] for f in manifest.get("files", [])}
    present = {p.name for p in path.glob("*.parquet")}
    problems += [f"{name}: not in the manifest" for name in sorted(present - listed)]
    expected_schema = [(c["name"], c["type"]) for c in manifest.get("schema", [])]
    rows = 0
    ops = {"insert": 0, "update": 0, "delete": 0}
    for entry in manifest.get("files", []):
        file = path / entry["path"]
        if not file.is_file():
            problems.append(f"{entry['path']}: missing")
            continue
        if file.stat().st_size != entry["bytes"]:
            problems.append(
                f"{entry['path']}: {file.stat().st_size} bytes, manifest says {entry['bytes']}"
            )
        if sha256_of(file) != entry["sha256"]:
            problems.append(f"{entry['path']}: SHA-256 differs from the manifest")
            continue
        table = pq.read_table(file)
        if table.num_rows != entry["rows"]:
            problems.append(
                f"{entry['path']}: {table.num_rows} rows, manifest says {entry['rows']}"
            )
        actual_schema = [(f.name, str(f.type)) for f in table.schema]
        if actual_schema != expected_schema:
            problems.append(f"{entry['path']}: schema differs from the manifest")
        rows += table.num_rows
        has_ops = table.num_rows and "op" in table.column_names
        for count in pc.value_counts(table.column("op")).to_pylist() if has_ops else []:
            ops[count["values"]] = ops.get(count["values"], 0) + int(count["counts"])
    if rows != manifest.get("rows"):
        problems.append(f"{rows} rows in the files, manifest says {manifest.get('rows')}")
    if "ops" in manifest and ops != manifest["ops"]:
        problems.append(f"op counts {ops} differ from the manifest's {manifest['ops']}")
    return {
        **result,
        "ok": not problems,
        "rows": rows,
        "files": len(listed),
        "feed": manifest.get("feed"),
        "division_code": manifest.get("division_code"),
        "run_id": manifest.get("run_id"),
        "watermark": manifest.get("watermark"),
        "problems": problems,
    }
