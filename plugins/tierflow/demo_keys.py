"""The demo's own keys (pseudonym secret and Ed25519 signing key), made once under
``$TIERFLOW_HOME/secrets`` for ``tierflow demo`` and ``tierflow demo --ui``; above both the
secret lookup (:mod:`tierflow.secrets`) and the modules that use the keys."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tierflow.secrets import demo_key_file

if TYPE_CHECKING:
    from pathlib import Path


def provision_demo_secrets() -> dict[str, Path]:
    """The demo's pseudonym and signing keys, made once (0600) when none is configured.

    Each one provisioned is named to this process as ``NAME_FILE`` (only its path, never its
    value, so it can be handed on to the Airflow processes of ``tierflow demo --ui``).
    Returns ``NAME_FILE`` → path for those, plus ``public_key_file`` beside the signing key.
    Production configures both (``NAME``, ``NAME_FILE`` or the Airflow connections).
    """
    import secrets as random

    from tierflow.masking import KEY_ENV as PSEUDONYM_ENV
    from tierflow.sink.signing import KEY_ENV as SIGNING_ENV
    from tierflow.sink.signing import new_signer, write_key_pair

    provisioned: dict[str, Path] = {}
    for env in (PSEUDONYM_ENV, SIGNING_ENV):
        if os.environ.get(env) or os.environ.get(f"{env}_FILE"):
            continue
        key_file = demo_key_file(env)
        if env == SIGNING_ENV:
            public_file = key_file.with_suffix(".pub")
            if not key_file.exists():
                public_file.unlink(missing_ok=True)
                write_key_pair(new_signer(), key_file, public_file)
            provisioned["public_key_file"] = public_file
        elif not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            key_file.touch(mode=0o600)
            key_file.write_text(random.token_hex(32), encoding="utf-8")
        os.environ[f"{env}_FILE"] = str(key_file)
        provisioned[f"{env}_FILE"] = key_file
    return provisioned
