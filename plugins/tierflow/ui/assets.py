"""The front-end files Data Docs need, built from pinned npm packages: nothing loads from a CDN.

``assets.json`` names each package at an exact version with the sha512 the registry publishes
for its tarball, and the files taken from it. ``build()`` fetches each tarball with
``npm pack`` (no install, no dependency tree, no install scripts), refuses one whose digest
differs, and copies the listed files into ``static/vendor/`` beside this module, where the
plugin serves them at ``/tierflow/data-docs/static/vendor/``. ``static/vendor/manifest.json``
records what was built; a build whose manifest matches ``assets.json`` does nothing.

Standard library only, so the Docker image's asset stage runs it without the project's venv:
``python3 plugins/tierflow/ui/assets.py [--out DIR]`` (or ``python -m tierflow.ui.assets``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEC = HERE / "assets.json"
VENDOR = HERE / "static" / "vendor"
MANIFEST = "manifest.json"


class AssetError(RuntimeError):
    """A package could not be fetched, or its tarball is not the pinned one."""


def spec() -> dict:
    return json.loads(SPEC.read_text(encoding="utf-8"))


def spec_digest() -> str:
    return hashlib.sha256(SPEC.read_bytes()).hexdigest()


def outputs() -> list[str]:
    """Every file the build writes, relative to the vendor folder."""
    return sorted(out for pkg in spec()["packages"].values() for out in pkg["files"].values())


def missing(vendor: Path = VENDOR) -> list[str]:
    """Files the current ``assets.json`` asks for that are not built (empty: up to date)."""
    try:
        built = json.loads((vendor / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return outputs()
    if built.get("spec_sha256") != spec_digest():
        return outputs()
    return [f for f in outputs() if not (vendor / f).is_file()]


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _pack(package: str, into: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError("npm not found: install Node.js and npm (Debian: apt-get install npm)")
    done = subprocess.run(
        [npm, "pack", "--silent", "--json", "--pack-destination", str(into), package],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=into,
    )
    if done.returncode != 0:
        raise AssetError(f"npm pack {package} failed: {done.stderr.strip()[-500:]}")
    (entry,) = json.loads(done.stdout)
    return into / entry["filename"]


def _extract(tarball: Path, files: dict[str, str], out: Path) -> None:
    with tarfile.open(tarball, "r:gz") as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
        for source, target in files.items():
            member = members.get(source)
            if member is None or not member.isfile():
                raise AssetError(f"{tarball.name}: no file {source}")
            handle = tar.extractfile(member)
            assert handle is not None
            dest = out / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(handle.read())


def build(vendor: Path = VENDOR, *, force: bool = False) -> list[str]:
    """Fetch, verify and copy every pinned file; returns the files written (none if current)."""
    if not force and not missing(vendor):
        return []
    packages = spec()["packages"]
    with tempfile.TemporaryDirectory(prefix="tierflow-assets-") as tmp:
        work = Path(tmp)
        staged = work / "vendor"
        staged.mkdir()
        for package, entry in packages.items():
            tarball = _pack(package, work)
            actual = _integrity(tarball.read_bytes())
            if actual != entry["integrity"]:
                raise AssetError(f"{package}: tarball is {actual}, pinned {entry['integrity']}")
            _extract(tarball, entry["files"], staged)
        manifest = {
            "spec_sha256": spec_digest(),
            "files": {f: hashlib.sha256((staged / f).read_bytes()).hexdigest() for f in outputs()},
        }
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if vendor.exists():
            shutil.rmtree(vendor)
        vendor.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staged, vendor)
    return outputs()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=VENDOR, help=f"default {VENDOR}")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--check", action="store_true", help="only report missing files")
    args = parser.parse_args(argv)
    if args.check:
        gone = missing(args.out)
        for name in gone:
            print(f"missing: {name}", file=sys.stderr)
        return 1 if gone else 0
    try:
        written = build(args.out, force=args.force)
    except AssetError as exc:
        print(f"assets: {exc}", file=sys.stderr)
        return 1
    print(f"assets: {len(written)} file(s) written to {args.out}" if written else "assets: current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
