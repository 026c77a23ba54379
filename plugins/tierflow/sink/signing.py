"""Ed25519 signatures of feed manifests: the platform signs, districts verify.

The platform's private key is a secret (:func:`tierflow.secrets.secret`): env
``TIERFLOW_SIGNING_KEY`` (or ``TIERFLOW_SIGNING_KEY_FILE``) or the password of the Airflow
connection ``tierflow_signing``, as unencrypted PEM PKCS8 or base64 of the raw 32-byte seed.

The publisher signs the whole manifest dict, whatever fields it holds: ``signing_key_id``
(the first 16 hex digits of SHA-256 of the raw public key) is added, then ``signature`` is
base64 of the Ed25519 signature over :func:`signed_payload`, the manifest's canonical bytes
(``manifest_bytes``: sorted keys, fixed separators) without the ``signature`` field.
Ed25519 is deterministic, so the same manifest always gets the same signature and a re-run
writes the same bytes.

Verifiers accept several public keys (rotation): ``--public-key`` values and
``TIERFLOW_FEED_PUBLIC_KEYS`` (comma-separated), each a file (PEM or base64) or base64 of
the raw 32-byte key; without any, the public key of the configured signing key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tierflow.errors import TierflowError
from tierflow.secrets import MissingSecret, secret
from tierflow.sink.publish import manifest_bytes

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

KEY_ENV = "TIERFLOW_SIGNING_KEY"
AIRFLOW_CONN_ID = "tierflow_signing"
PUBLIC_KEYS_ENV = "TIERFLOW_FEED_PUBLIC_KEYS"
ALGORITHM = "ed25519"
KEY_ID = "signing_key_id"
SIGNATURE = "signature"
NO_PUBLIC_KEY = (
    "no public key to check the signature against: give --public-key, set"
    f" {PUBLIC_KEYS_ENV}, or configure the signing key ({KEY_ENV} or the Airflow connection"
    f" {AIRFLOW_CONN_ID!r})"
)


class MissingSigningKey(MissingSecret):
    """No private key configured for signing feeds."""


class BadKey(TierflowError):
    """A key given is not a usable Ed25519 key (the message never holds key material)."""


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64 (whitespace ignored); None when it is neither."""
    try:
        compact = "".join(text.split()).encode("ascii")
    except UnicodeEncodeError:
        return None
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(compact, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_private_key(
    text: str, source: str = f"{KEY_ENV} / {AIRFLOW_CONN_ID!r}"
) -> Ed25519PrivateKey:
    """An Ed25519 private key from unencrypted PEM PKCS8, or base64 of the 32-byte seed."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except TypeError:
            raise BadKey(f"the signing key ({source}) is encrypted; give it unencrypted") from None
        except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
            raise BadKey(f"the signing key ({source}) is not a readable PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise BadKey(f"the signing key ({source}) is not an Ed25519 key")
        return key
    seed = _b64decode(text)
    if seed is None or len(seed) != 32:
        raise BadKey(
            f"the signing key ({source}) is neither a PEM PKCS8 Ed25519 private key"
            " nor base64 of a 32-byte seed"
        )
    return Ed25519PrivateKey.from_private_bytes(seed)


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def public_key_text(public: Ed25519PublicKey) -> str:
    """The form to publish and to pass to ``--public-key``: base64 of the raw 32 bytes."""
    return _b64(raw_public(public))


def public_key_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def describe_public(public: Ed25519PublicKey) -> dict[str, str]:
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(public),
        "public_key": public_key_text(public),
        "public_key_pem": public_key_pem(public),
    }


def _public_from_text(text: str, label: str) -> Ed25519PublicKey:
    text = text.strip()
    if "PRIVATE KEY" in text:
        raise BadKey(f"{label} is a private key: give its public key (tierflow feeds public-key)")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
            raise BadKey(f"{label} is not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise BadKey(f"{label} is not an Ed25519 public key")
        return key
    raw = _b64decode(text)
    if raw is None or len(raw) != 32:
        raise BadKey(
            f"{label} is neither a readable file nor base64 of a 32-byte Ed25519 public key"
        )
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise BadKey(f"{label} is not a valid Ed25519 public key") from None


def parse_public_key(value: str, label: str = "public key") -> Ed25519PublicKey:
    """A public key from a file (PEM or base64 inside), PEM text or base64 of the raw 32 bytes."""
    value = value.strip()
    if not value.startswith("-----BEGIN") and os.path.isfile(value):
        try:
            text = Path(value).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise BadKey(f"{label} {value}: the file cannot be read as text") from None
        return _public_from_text(text, f"{label} {value}")
    return _public_from_text(value, label)


class Signer:
    """Signs manifests with the platform's private key; holds no key material in its repr."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def sign(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """The manifest with ``signing_key_id`` and ``signature`` (any old signature replaced)."""
        unsigned = {k: v for k, v in manifest.items() if k != SIGNATURE}
        unsigned[KEY_ID] = self.key_id
        # exactly what a verifier reads back from the file: JSON types only
        unsigned = json.loads(manifest_bytes(unsigned))
        return {**unsigned, SIGNATURE: _b64(self._key.sign(signed_payload(unsigned)))}

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def configured_signer() -> Signer:
    """The platform's signer; a missing or unusable key fails in one line naming where to set it."""
    text = secret(KEY_ENV, AIRFLOW_CONN_ID, "signing key", MissingSigningKey)
    return Signer(parse_private_key(text))


def new_signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def feed_secrets() -> tuple[bytes, Signer]:
    """The pseudonym secret and the signer a sink needs, checked together before any work."""
    from tierflow.masking import pseudonym_secret

    found: list[Any] = []
    missing: list[str] = []
    for lookup in (pseudonym_secret, configured_signer):
        try:
            found.append(lookup())
        except MissingSecret as exc:
            missing.append(str(exc))
    if missing:
        raise MissingSecret("; ".join(missing))
    return found[0], found[1]


def verification_keys(values: Iterable[str] = ()) -> dict[str, Ed25519PublicKey]:
    """Accepted public keys by key id: ``values`` and TIERFLOW_FEED_PUBLIC_KEYS, else the
    configured signing key's public key; empty when there is none at all."""
    given = [(f"--public-key value {i}", v) for i, v in enumerate(values, 1) if v.strip()]
    env = os.environ.get(PUBLIC_KEYS_ENV, "")
    given += [
        (f"{PUBLIC_KEYS_ENV} item {i}", v) for i, v in enumerate(env.split(","), 1) if v.strip()
    ]
    keys: dict[str, Ed25519PublicKey] = {}
    for label, value in given:
        key = parse_public_key(value, label)
        keys[key_id(key)] = key
    if not given:
        try:
            signer = configured_signer()
        except MissingSigningKey:
            return {}
        keys[signer.key_id] = signer.public_key
    return keys


def signed_payload(manifest: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the canonical manifest without its ``signature`` field."""
    return manifest_bytes({k: v for k, v in manifest.items() if k != SIGNATURE})


def signature_problems(
    manifest: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]
) -> list[str]:
    """Why the manifest's signature is not acceptable (one line each); [] when it is."""
    signature = manifest.get(SIGNATURE)
    kid = manifest.get(KEY_ID)
    if not isinstance(signature, str) or not signature:
        return ["the manifest is not signed (no signature field)"]
    if not isinstance(kid, str) or not re.fullmatch(r"[0-9a-f]{16}", kid):
        return [f"the manifest's {KEY_ID} is missing or not 16 hex digits"]
    if not keys:
        return [NO_PUBLIC_KEY]
    public = keys.get(kid)
    if public is None:
        return [
            f"signed with key id {kid}, not one of the accepted public keys"
            f" ({', '.join(sorted(keys))})"
        ]
    raw = _b64decode(signature)
    try:
        if raw is None:
            raise InvalidSignature
        public.verify(raw, signed_payload(manifest))
    except InvalidSignature:
        return [
            f"the signature does not verify under key {kid}: the manifest was altered"
            " or signed with another key"
        ]
    return []


def write_key_pair(signer: Signer, private_path: Path, public_path: Path) -> None:
    """The private key as PEM PKCS8 (mode 0600, never over an existing file) and the public PEM."""
    private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in (private_path, public_path):
        if path.exists():
            raise TierflowError(f"{path} exists: not overwriting a key")
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, signer.private_pem())
    finally:
        os.close(fd)
    public_path.write_text(public_key_pem(signer.public_key), encoding="ascii")
