"""The one path layer for tierflow's files: landing, quarantine, feeds, reports and Data Docs.

``TIERFLOW_STORAGE`` is their root: a local folder (default ``$TIERFLOW_HOME``, today's
layout) or an object-store URL ``s3://bucket/prefix``. Every path a command takes may be
either; :func:`path` turns it into a ``UPath`` (universal_pathlib over fsspec: a plain
``pathlib`` path on disk, ``s3fs`` on S3), so the callers use one API for both.

On S3 the endpoint is ``TIERFLOW_S3_ENDPOINT_URL`` (else the extra ``endpoint_url`` of the
Airflow connection ``tierflow_storage``, else botocore's: ``AWS_ENDPOINT_URL`` or AWS's); the
credentials are the usual AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
profiles, instance roles: botocore's chain), else the login and password of the Airflow
connection ``tierflow_storage`` (looked up by ``tierflow.secrets.storage_connection``).
Credentials are only ever handed to s3fs: a ``UPath``
prints as ``s3://bucket/key``, so no path, log line, manifest or lineage event carries them.

Arrow reads and writes go through :func:`arrow` (a pyarrow filesystem over the same fsspec
one), so files stream in blocks on S3 as on disk. The embedded database, secrets, the GX
project and spill files stay local (``config.data_root()``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierflow.errors import TierflowError
from tierflow.settings import settings

if TYPE_CHECKING:
    import pyarrow.fs as pafs
    from upath import UPath

SCHEMES = ("s3", "s3a")


class StorageError(TierflowError):
    """A storage URL tierflow cannot use, or a store it cannot reach."""


def is_url(value: str | os.PathLike[str]) -> bool:
    return "://" in str(value)


def is_remote(p: str | os.PathLike[str]) -> bool:
    """True for an object-store path (anything not on the local disk)."""
    protocol = getattr(p, "protocol", None)
    if protocol is not None:
        return protocol not in ("", "file", "local")
    return is_url(p) and not str(p).startswith("file://")


def s3_options() -> dict[str, Any]:
    """What s3fs needs besides the path: endpoint and (from the Airflow connection) keys."""
    from tierflow.secrets import storage_connection

    conn = storage_connection()  # {} outside Airflow or when the AWS variables hold a key
    extra = conn.get("extra") or {}
    # AWS_ENDPOINT_URL and AWS_DEFAULT_REGION need nothing here: botocore reads them itself
    endpoint = settings().s3_endpoint_url or extra.get("endpoint_url")
    options: dict[str, Any] = {
        "use_listings_cache": False,  # other processes publish: never answer from a stale listing
        "config_kwargs": {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}},
    }
    if endpoint:
        options["endpoint_url"] = endpoint
    region = extra.get("region_name")
    if region:
        options["client_kwargs"] = {"region_name": region}
    if conn.get("login"):
        options["key"], options["secret"] = conn["login"], conn["password"]
    return options


def path(value: str | os.PathLike[str]) -> UPath:
    """A path or storage URL as a ``UPath``; a bad URL is a one-line :class:`StorageError`."""
    from upath import UPath

    if hasattr(value, "protocol") and hasattr(value, "storage_options"):
        return value  # already one of ours
    text = os.fspath(value)
    if not is_url(text):
        return UPath(Path(text).absolute())
    scheme, _, rest = text.partition("://")
    if scheme == "file":
        return UPath(Path(rest).absolute())
    shown = re.sub(r"^([^/]*//)[^/]*@", r"\1…@", text)  # never repeat user:password@
    if scheme not in SCHEMES:
        raise StorageError(f"{shown}: unsupported storage URL (a local path or s3://bucket/prefix)")
    bucket = rest.split("/", 1)[0]
    if not bucket or any(c in bucket for c in " \\?#@:"):
        raise StorageError(f"{shown}: an S3 URL needs a bucket name (s3://bucket/prefix)")
    return UPath(f"s3://{rest.rstrip('/')}", **s3_options())


def root() -> UPath:
    """``TIERFLOW_STORAGE``: the root of landing/, quarantine/, feeds/, reports/, docs/."""
    configured = settings().storage
    return path(configured) if configured else path(settings().home.resolve())


def landing_dir() -> UPath:
    return root() / "landing"


def quarantine_dir() -> UPath:
    return root() / "quarantine"


def feeds_dir() -> UPath:
    return root() / "feeds"


def reports_dir() -> UPath:
    return root() / "reports"


def docs_dir() -> UPath:
    """Where Data Docs are published (``<storage>/docs``; built in ``config.docs_build_dir``)."""
    return root() / "docs"


def check(p: UPath) -> UPath:
    """``p``'s store answers and its bucket exists (one line otherwise); ``p`` itself."""
    if not is_remote(p):
        return p
    bucket = p.path.split("/", 1)[0]
    try:
        p.fs.ls(bucket, detail=False)
    except FileNotFoundError:
        raise StorageError(f"s3://{bucket}: no such bucket") from None
    except PermissionError:
        raise StorageError(f"s3://{bucket}: access denied (check the credentials)") from None
    except Exception as exc:  # noqa: BLE001 - botocore/aiohttp errors: one line, no secrets
        raise StorageError(f"s3://{bucket}: storage unreachable ({type(exc).__name__})") from None
    return p


def arrow(p: UPath) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path on it: local disk, or the same fsspec store."""
    import pyarrow.fs as pafs

    if not is_remote(p):
        return pafs.LocalFileSystem(), str(p)
    return pafs.PyFileSystem(pafs.FSSpecHandler(p.fs)), p.path


def open_input_stream(p: UPath) -> pafs.NativeFile:
    """A sequential Arrow stream of ``p`` (read in blocks: bounded memory on S3 too)."""
    fs, where = arrow(p)
    return fs.open_input_stream(where)


def open_input_file(p: UPath) -> pafs.NativeFile:
    """A seekable Arrow file of ``p`` (Parquet's footer first, then its row groups)."""
    fs, where = arrow(p)
    return fs.open_input_file(where)


def replace(src: UPath, dst: UPath) -> None:
    """Move ``src`` over ``dst``: a rename on disk, a server-side copy then delete on S3."""
    if not is_remote(src):
        os.replace(src, dst)
        return
    src.fs.mv(src.path, dst.path)


def mkdirs(p: UPath) -> None:
    """``p`` and its parents as folders (on S3 folders are key prefixes: nothing to create)."""
    if not is_remote(p):
        p.mkdir(parents=True, exist_ok=True)


def url(p: str | os.PathLike[str]) -> str:
    """How a path is shown and recorded: ``s3://bucket/key`` or the absolute local path."""
    return str(p) if is_remote(p) else os.fspath(Path(os.fspath(p)).absolute())


def mirror(local: Path, target: UPath, *, always: tuple[str, ...] = ("index.html",)) -> int:
    """Copy the files of the local folder ``local`` to ``target`` that it lacks or that differ
    in size (and the ``always`` names, which change in place); returns how many were copied."""
    if not local.is_dir():
        return 0
    copied = 0
    for file in sorted(p for p in local.rglob("*") if p.is_file()):
        relative = file.relative_to(local).as_posix()
        dest = target / relative
        if relative not in always and dest.exists() and dest.stat().st_size == file.stat().st_size:
            continue
        if is_remote(dest):
            dest.fs.put_file(str(file), dest.path)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(file.read_bytes())
        copied += 1
    return copied
