"""The platform's secrets (pseudonym key, feed signing key): one lookup rule for all of them.

A secret named by env var ``NAME`` and Airflow connection ``conn_id`` is, in this order:
the value of ``NAME``; the content of the file named by ``NAME_FILE`` (Docker style, for
a secret mounted or generated as a file); the password of the Airflow connection; and, only
in the zero-setup mode (no database configured: the embedded warehouse), the key ``tierflow
demo`` generated under ``$TIERFLOW_HOME/secrets/`` (``pseudonym.key``, ``signing.key``), so
the commands a newcomer runs after ``make demo`` work on the demo's data. A secret never has
a default, and no error message ever contains its value.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from tierflow.errors import TierflowError


class MissingSecret(TierflowError):
    """A secret the operation needs is not configured (or cannot be read)."""


def demo_key_file(env: str) -> Path:
    """Where ``tierflow demo`` keeps its own key for ``env``: ``$TIERFLOW_HOME/secrets/<name>.key``."""
    from tierflow import config

    name = env.removeprefix("TIERFLOW_").removesuffix("_KEY").lower()
    return config.data_root() / "secrets" / f"{name}.key"


def _zero_setup_key(env: str) -> str | None:
    """The demo's own key for ``env`` when tierflow runs on its embedded warehouse."""
    from tierflow import db

    if db.is_configured():
        return None
    path = demo_key_file(env)
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


STORAGE_CONNECTION = "tierflow_storage"


@cache
def storage_connection() -> dict[str, Any]:
    """The object store's keys from the Airflow connection ``tierflow_storage`` (login,
    password, extra with ``endpoint_url``/``region_name``), when running under Airflow and
    the usual AWS variables hold no key (botocore reads those itself); else ``{}``."""
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return {}
    if not os.environ.get("AIRFLOW_HOME") and not os.environ.get("AIRFLOW__CORE__EXECUTOR"):
        return {}  # not under Airflow: no connection to look up
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(STORAGE_CONNECTION)
    except Exception:  # noqa: BLE001 - no Airflow, or no such connection
        return {}
    return {"login": conn.login, "password": conn.password, "extra": conn.extra_dejson or {}}


def secret(env: str, conn_id: str, what: str, missing: type[TierflowError] = MissingSecret) -> str:
    """The secret's text, as set (a file's surrounding whitespace stripped); else ``missing``."""
    value = os.environ.get(env)
    if not value and os.environ.get(f"{env}_FILE"):
        path = Path(os.environ[f"{env}_FILE"])
        try:
            value = path.read_text(encoding="utf-8").strip()  # a file ends with a newline
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise missing(f"no {what}: {env}_FILE={path} cannot be read ({reason})") from None
    if not value:
        try:
            from airflow.sdk import BaseHook

            value = BaseHook.get_connection(conn_id).password
        except Exception:  # noqa: BLE001 - no Airflow or no such connection: reported below
            value = None
    if not value:
        value = _zero_setup_key(env)
    if not value:
        raise missing(
            f"no {what}: set {env} (or {env}_FILE) or the password of the Airflow connection"
            f" {conn_id!r}"
        )
    return value
