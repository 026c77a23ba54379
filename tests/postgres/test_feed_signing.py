"""Signed feeds (issue #13 item 4): a tampered, forged or misplaced feed fails verification.

On a real sink run (test_sink's chain), each attack is made on a copy laid out as a district
receives it (``feeds/<division_code>/<feed>/<run_id>/``) and checked through the real CLI:
a one-line reason on stderr and exit 2 (every actionable error of the CLI exits 2); a clean
feed verifies with exit 0. Rotation, re-runs, missing keys and key leaks are checked too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import PROJECT_ROOT, SIGNING_KEY
from tests.postgres import test_sink
from tests.postgres.test_sink import AS_OF, feed_dir, scalar
from tierflow.cli import main
from tierflow.sink import signing
from tierflow.sink.publish import MANIFEST, PARQUET_OPTIONS, manifest_bytes

if TYPE_CHECKING:
    from collections.abc import Callable

chain = test_sink.chain  # the sink's chain fixture: one real sink run for this module
PLATFORM = signing.Signer(signing.parse_private_key(SIGNING_KEY))
ATTACKER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"attacker").digest())
ATTACKER = signing.Signer(ATTACKER_KEY)
BAD_SIGNATURE = (
    f"the signature does not verify under key {PLATFORM.key_id}: the manifest was altered"
    " or signed with another key"
)


def delivered(root: Path, tmp: Path, code="500103", feed="person", run="base", *, to=None) -> Path:
    """A copy of a published feed, where a district receives it (or at ``to``'s folders)."""
    target = feed_dir(tmp, *(to or (code, feed, run)))
    shutil.copytree(feed_dir(root, code, feed, run), target)
    return target


def load(path: Path) -> dict:
    return json.loads((path / MANIFEST).read_text(encoding="utf-8"))


def save(path: Path, manifest: dict) -> None:
    (path / MANIFEST).write_bytes(manifest_bytes(manifest))


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def private_needles(key: Ed25519PrivateKey) -> list[bytes]:
    """Every form the private key could leak in: raw seed, hex, base64, the PEM's body."""
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = signing.Signer(key).private_pem().decode()
    body = "".join(pem.strip().splitlines()[1:-1])
    return [
        seed,
        seed.hex().encode(),
        base64.b64encode(seed),
        base64.urlsafe_b64encode(seed),
        body.encode(),
    ]


# --- the attacks: each makes a feed folder and names the reason verify must give -----------


def _edited(change: Callable[[dict], object]) -> Callable[[Path, Path], Path]:
    def attack(root: Path, tmp: Path) -> Path:
        path = delivered(root, tmp)
        manifest = load(path)
        change(manifest)
        save(path, manifest)  # the old signature kept
        return path

    return attack


def _forged_part(root: Path, tmp: Path) -> Path:
    """Rows dropped from a part; its SHA-256, bytes and rows, the totals and ops all updated."""
    path = delivered(root, tmp)
    manifest = load(path)
    entry = manifest["files"][0]
    table = pq.read_table(path / entry["path"])
    assert len(manifest["files"]) == 1 and table.num_rows >= 2
    forged = table.slice(0, table.num_rows // 2)
    sink = pa.BufferOutputStream()
    pq.write_table(forged, sink, **PARQUET_OPTIONS)
    data = sink.getvalue().to_pybytes()
    (path / entry["path"]).write_bytes(data)
    entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), rows=forged.num_rows)
    manifest["rows"] = forged.num_rows
    ops = {"insert": 0, "update": 0, "delete": 0}
    for count in pc.value_counts(forged.column("op")).to_pylist():
        ops[count["values"]] = int(count["counts"])
    manifest["ops"] = ops
    save(path, manifest)
    return path


def _resigned_by_attacker(root: Path, tmp: Path) -> Path:
    path = delivered(root, tmp)
    save(path, ATTACKER.sign({**load(path), "masking": {}}))
    return path


def _attacker_claims_the_platform_key(root: Path, tmp: Path) -> Path:
    path = delivered(root, tmp)
    unsigned = {**load(path), "masking": {}, signing.KEY_ID: PLATFORM.key_id}
    unsigned.pop(signing.SIGNATURE)
    signature = ATTACKER_KEY.sign(signing.signed_payload(unsigned))
    save(path, {**unsigned, signing.SIGNATURE: base64.b64encode(signature).decode()})
    return path


def _moved(to: tuple[str, str, str], code: str = "500103") -> Callable[[Path, Path], Path]:
    return lambda root, tmp: delivered(root, tmp, code, to=to)


def _unlisted_part(root: Path, tmp: Path) -> Path:
    path = delivered(root, tmp)
    shutil.copy(path / "part-00000.parquet", path / "part-00001.parquet")
    return path


ATTACKS: dict[str, tuple[Callable[[Path, Path], Path], list[str]]] = {
    "masking set to {}": (_edited(lambda m: m.update(masking={})), [BAD_SIGNATURE]),
    "division_code edited": (
        _edited(lambda m: m.update(division_code="500104")),
        [BAD_SIGNATURE, "the manifest's division_code '500104' is not its folder '500103'"],
    ),
    "watermark edited": (
        _edited(lambda m: m["watermark"].update({"to": "2020-01-01T00:00:00+00:00"})),
        [BAD_SIGNATURE],
    ),
    "demand_ids edited": (
        _edited(lambda m: m.update(demand_ids=[*m["demand_ids"], "D-forged"])),
        [BAD_SIGNATURE],
    ),
    "part forged consistently": (_forged_part, [BAD_SIGNATURE]),
    "re-signed with the attacker's key": (
        _resigned_by_attacker,
        [
            f"signed with key id {ATTACKER.key_id}, not one of the accepted public keys"
            f" ({PLATFORM.key_id})"
        ],
    ),
    "attacker's signature under the platform's key id": (
        _attacker_claims_the_platform_key,
        [BAD_SIGNATURE],
    ),
    "500101's feed under 500102's folder": (
        _moved(("500102", "person", "base"), code="500101"),
        ["the manifest's division_code '500101' is not its folder '500102'"],
    ),
    "run folder renamed": (
        _moved(("500103", "person", "base-2")),
        ["the manifest's run_id 'base' is not its folder 'base-2'"],
    ),
    "feed folder renamed": (
        _moved(("500103", "legal_entity", "base")),
        ["the manifest's feed 'person' is not its folder 'legal_entity'"],
    ),
    "signature removed": (
        _edited(lambda m: m.pop(signing.SIGNATURE)),
        ["the manifest is not signed (no signature field)"],
    ),
    "unlisted extra part": (_unlisted_part, ["part-00001.parquet: not in the manifest"]),
    "newlines planted in the manifest": (
        _edited(
            lambda m: (
                m["files"][0].update(path="x\ntierflow feeds: OK"),
                m.update({signing.KEY_ID: "a\nb"}),
            )
        ),
        [
            "the manifest's signing_key_id is missing or not 16 hex digits",
            "x\\ntierflow feeds: OK: missing",
        ],
    ),
}


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attacked_feed_fails_verify_with_its_one_line_reason(chain, tmp_path, capsys, attack):
    _engine, root = chain
    make, reasons = ATTACKS[attack]
    path = make(root, tmp_path / "district")
    code, out, err = cli(capsys, "feeds", "verify", str(path))
    line = one_line(err)
    assert code == 2 and out == "", (code, out)
    assert line.startswith(f"tierflow feeds: error: {path}: ")
    assert all(reason in line for reason in reasons), line
    # --json: the same verdict on stdout, the same line on stderr
    code, out, err = cli(capsys, "feeds", "verify", str(path), "--json")
    answer = json.loads(out)
    assert code == 2 and one_line(err) == line and answer["ok"] is False
    assert all(any(reason == p for p in answer["problems"]) for reason in reasons), answer
    if attack == "part forged consistently":
        # hashes, sizes, rows and op counts all agree with the forged manifest: only the
        # signature catches it
        assert answer["problems"] == [BAD_SIGNATURE]


@pytest.mark.postgres
@pytest.mark.slow
def test_a_clean_feed_verifies_with_each_way_of_giving_the_public_key(
    chain, tmp_path, capsys, monkeypatch
):
    _engine, root = chain
    feeds = sorted(p / "base" for p in (root / "feeds" / "500101").iterdir())
    assert len(feeds) >= 6
    for path in feeds:  # default: the configured signing key's public key
        code, out, err = cli(capsys, "feeds", "verify", str(path))
        assert code == 0 and err == "", err
        assert out.strip().endswith(f"signed by key {PLATFORM.key_id}") and "OK" in out
    public = PLATFORM.public_key
    pem = tmp_path / "platform.pub"
    pem.write_text(signing.public_key_pem(public), encoding="ascii")
    b64_file = tmp_path / "platform.b64"
    b64_file.write_text(signing.public_key_text(public) + "\n", encoding="ascii")
    for given in (signing.public_key_text(public), str(pem), str(b64_file)):
        code, out, err = cli(
            capsys, "feeds", "verify", str(feeds[0]), "--public-key", given, "--json"
        )
        answer = json.loads(out)
        assert code == 0 and answer["ok"] and answer["signing_key_id"] == PLATFORM.key_id, err
        assert answer["accepted_key_ids"] == [PLATFORM.key_id] and answer["problems"] == []
    monkeypatch.setenv(
        signing.PUBLIC_KEYS_ENV, f"{signing.public_key_text(ATTACKER.public_key)},{pem}"
    )
    monkeypatch.delenv(signing.KEY_ENV)  # districts have no private key
    code, out, _err = cli(capsys, "feeds", "verify", str(feeds[0]), "--json")
    assert code == 0 and json.loads(out)["accepted_key_ids"] == sorted(
        [PLATFORM.key_id, ATTACKER.key_id]
    )


@pytest.mark.postgres
@pytest.mark.slow
def test_verify_never_says_ok_without_a_public_key_and_reports_bad_input(
    chain, tmp_path, capsys, monkeypatch
):
    from tierflow.sink.verify import verify_feed

    _engine, root = chain
    path = feed_dir(root, "500103", "person", "base")
    monkeypatch.delenv(signing.KEY_ENV)
    monkeypatch.delenv(signing.PUBLIC_KEYS_ENV, raising=False)
    code, out, err = cli(capsys, "feeds", "verify", str(path))
    assert (
        code == 2 and out == "" and "no public key to check the signature against" in one_line(err)
    )
    assert verify_feed(path)["problems"] == [signing.NO_PUBLIC_KEY]  # the library says no too
    code, _out, err = cli(capsys, "feeds", "verify", str(tmp_path / "nowhere"))
    assert code == 2 and one_line(err).endswith("nowhere: no such feed directory")
    code, _out, err = cli(capsys, "feeds", "verify", str(path), "--public-key", "not-a-key")
    assert code == 2 and "--public-key value 1 is neither a readable file nor base64" in one_line(
        err
    )
    private = tmp_path / "oops.key"
    private.write_bytes(PLATFORM.private_pem())
    code, _out, err = cli(capsys, "feeds", "verify", str(path), "--public-key", str(private))
    line = one_line(err)
    assert code == 2 and "is a private key: give its public key" in line
    assert not any(n.decode(errors="ignore") in line for n in private_needles(PLATFORM._key))


@pytest.mark.postgres
@pytest.mark.slow
def test_rotation_old_feeds_verify_with_old_and_new_keys_and_fail_with_the_new_only(
    chain, tmp_path, capsys, monkeypatch
):
    from tierflow.sink.run import sink

    engine, root = chain
    code, out, _err = cli(capsys, "feeds", "keygen", "--out", str(tmp_path / "keys"), "--json")
    new = json.loads(out)
    assert code == 0 and (Path(new["private_key_file"]).stat().st_mode & 0o777) == 0o600
    new_private = signing.parse_private_key(Path(new["private_key_file"]).read_text())
    assert not any(n in out.encode() for n in private_needles(new_private))
    # the bureau rotates: the new key signs from now on (the base run was signed by the old one)
    monkeypatch.delenv(signing.KEY_ENV)
    monkeypatch.setenv(f"{signing.KEY_ENV}_FILE", new["private_key_file"])
    code, out, _err = cli(capsys, "feeds", "public-key", "--json")
    assert code == 0 and json.loads(out)["key_id"] == new["key_id"] != PLATFORM.key_id
    sink("500103", "after-rotation", as_of=AS_OF, eng=engine)
    old_feed = feed_dir(root, "500103", "person", "base")
    new_feed = feed_dir(root, "500103", "person", "after-rotation")
    assert load(new_feed)[signing.KEY_ID] == new["key_id"]
    old_public = signing.public_key_text(PLATFORM.public_key)
    both = ["--public-key", old_public, "--public-key", new["public_key_file"]]
    for path in (old_feed, new_feed):
        code, out, err = cli(capsys, "feeds", "verify", str(path), *both)
        assert code == 0 and "OK" in out, err
    monkeypatch.setenv(signing.PUBLIC_KEYS_ENV, f"{old_public},{new['public_key']}")
    assert cli(capsys, "feeds", "verify", str(old_feed))[0] == 0
    monkeypatch.delenv(signing.PUBLIC_KEYS_ENV)
    code, _out, err = cli(
        capsys, "feeds", "verify", str(old_feed), "--public-key", new["public_key"]
    )
    assert code == 2 and (
        f"signed with key id {PLATFORM.key_id}, not one of the accepted public keys"
        f" ({new['key_id']})"
    ) in one_line(err)
    code, _out, err = cli(capsys, "feeds", "verify", str(old_feed))  # default: the new key
    assert code == 2 and f"signed with key id {PLATFORM.key_id}" in one_line(err)
    code, _out, err = cli(capsys, "feeds", "verify", str(new_feed), "--public-key", old_public)
    assert code == 2 and f"signed with key id {new['key_id']}" in one_line(err)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_re_run_rewrites_the_same_signed_manifest_and_the_private_key_leaks_nowhere(
    chain, capsys, caplog
):
    from tierflow.sink.run import sink

    engine, root = chain
    caplog.set_level(logging.DEBUG)
    district = root / "feeds" / "500105"
    sink("500105", "again", as_of=AS_OF, eng=engine)
    first = {f.name: (f / "again" / MANIFEST).read_bytes() for f in district.iterdir()}
    sink("500105", "again", as_of=AS_OF, eng=engine)
    second = {f.name: (f / "again" / MANIFEST).read_bytes() for f in district.iterdir()}
    assert first == second and len(first) >= 6
    for data in first.values():
        manifest = json.loads(data)
        assert manifest[signing.KEY_ID] == PLATFORM.key_id and manifest[signing.SIGNATURE]
        assert data == manifest_bytes(manifest)  # sorted keys, fixed separators
    outputs = []
    for argv in (
        ["feeds", "verify", str(district / "person" / "again"), "--json"],
        ["feeds", "verify", str(district / "person" / "again")],
        ["feeds", "public-key", "--json"],
        ["feeds", "public-key"],
    ):
        code, out, err = cli(capsys, *argv)
        assert code == 0, err
        outputs.append((out + err).encode())
    files = [p.read_bytes() for p in district.rglob("*") if p.is_file()]
    texts = [*outputs, *files, caplog.text.encode()]
    for needle in private_needles(PLATFORM._key):
        assert not any(needle in text for text in texts)
    assert SIGNING_KEY.encode() in private_needles(PLATFORM._key)  # the needles are the key's


@pytest.mark.postgres
@pytest.mark.slow
def test_a_missing_signing_key_fails_the_sink_and_tierflow_run_before_any_work(
    chain, tmp_path, capsys, monkeypatch
):
    from tierflow import db
    from tierflow.secrets import MissingSecret
    from tierflow.sink.run import sink

    engine, root = chain
    monkeypatch.setenv("TIERFLOW_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    db.engine.cache_clear()
    monkeypatch.delenv(signing.KEY_ENV)
    try:
        with pytest.raises(MissingSecret) as missing:
            sink("500107", "no-key", as_of=AS_OF, eng=engine)
        message = str(missing.value)
        assert "\n" not in message
        assert (
            "no signing key: set TIERFLOW_SIGNING_KEY" in message
            and "'tierflow_signing'" in message
        )
        code, out, err = cli(capsys, "sink", "--district", "500107", "--run-id", "no-key")
        assert code == 2 and out == "" and one_line(err) == f"tierflow sink: error: {message}"
        # tierflow run checks before ingest: the landing folder is not even looked at
        code, _out, err = cli(capsys, "run", "--landing", str(tmp_path / "no-such-landing"))
        assert code == 2 and "TIERFLOW_SIGNING_KEY" in one_line(err) and "landing" not in err
        assert scalar(engine, "select count(*) from feed.run where run_id = 'no-key'") == 0
        assert not list((root / "feeds").glob("*/*/no-key")) and not list(
            (root / "feeds").glob("*/*/.no-key*")
        )
        # both secrets missing: one line naming both
        monkeypatch.delenv("TIERFLOW_PSEUDONYM_KEY")
        code, _out, err = cli(capsys, "run", "--landing", str(tmp_path / "no-such-landing"))
        line = one_line(err)
        assert code == 2 and "TIERFLOW_PSEUDONYM_KEY" in line and "TIERFLOW_SIGNING_KEY" in line
    finally:
        db.engine.cache_clear()


@pytest.mark.postgres
@pytest.mark.slow
def test_the_console_script_exits_0_for_a_clean_feed_and_2_for_a_forged_one(chain, tmp_path):
    """The real process, as a district runs it: only the public key, no private key at all."""
    _engine, root = chain
    clean = feed_dir(root, "500103", "person", "base")
    forged = _forged_part(root, tmp_path / "district")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TIERFLOW_SIGNING", "TIERFLOW_PS"))
    }
    env.update(
        PYTHONPATH=str(PROJECT_ROOT / "plugins"),
        **{signing.PUBLIC_KEYS_ENV: signing.public_key_text(PLATFORM.public_key)},
    )

    def run(path: Path) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "tierflow.cli", "feeds", "verify", str(path)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    ok, bad = run(clean), run(forged)
    assert ok.returncode == 0 and f"signed by key {PLATFORM.key_id}" in ok.stdout, ok.stderr
    assert bad.returncode == 2 and bad.stdout == ""
    assert one_line(bad.stderr) == f"tierflow feeds: error: {forged}: {BAD_SIGNATURE}"


# --- the keys and the signature, without a database ------------------------------------------


@pytest.mark.unit
def test_one_lookup_rule_for_both_secrets_env_then_file_then_airflow_connection(
    tmp_path, monkeypatch
):
    from tierflow.masking import MissingPseudonymKey, pseudonym_secret
    from tierflow.secrets import MissingSecret

    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))  # no demo keys lying around
    for name in ("TIERFLOW_SIGNING_KEY", "TIERFLOW_PSEUDONYM_KEY"):
        for suffix in ("", "_FILE"):
            monkeypatch.delenv(name + suffix, raising=False)
    with pytest.raises(signing.MissingSigningKey) as no_key:
        signing.configured_signer()
    with pytest.raises(MissingPseudonymKey) as no_secret:
        pseudonym_secret()
    assert str(no_key.value) == (
        "no signing key: set TIERFLOW_SIGNING_KEY (or TIERFLOW_SIGNING_KEY_FILE) or the password"
        " of the Airflow connection 'tierflow_signing'"
    )
    assert str(no_secret.value) == str(no_key.value).replace("signing", "pseudonym").replace(
        "SIGNING", "PSEUDONYM"
    )
    with pytest.raises(MissingSecret) as both:
        signing.feed_secrets()
    assert str(both.value) == f"{no_secret.value}; {no_key.value}"
    # the Airflow connection's password
    attacker_seed = base64.b64encode(hashlib.sha256(b"attacker").digest()).decode()
    connection = json.dumps({"conn_type": "generic", "password": attacker_seed})
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_SIGNING", connection)
    assert signing.configured_signer().key_id == ATTACKER.key_id
    # a file (trailing newline stripped) wins over the connection, the value over the file
    key_file = tmp_path / "signing.key"
    key_file.write_bytes(PLATFORM.private_pem() + b"\n")
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY_FILE", str(key_file))
    assert signing.configured_signer().key_id == PLATFORM.key_id
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", attacker_seed)
    assert signing.configured_signer().key_id == ATTACKER.key_id
    monkeypatch.delenv("TIERFLOW_SIGNING_KEY")
    key_file.unlink()
    with pytest.raises(signing.MissingSigningKey, match=f"_FILE={key_file} cannot be read"):
        signing.configured_signer()


@pytest.mark.unit
def test_private_keys_are_pem_pkcs8_or_base64_seeds_and_errors_hold_no_key_material(monkeypatch):
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = PLATFORM.private_pem().decode()
    assert signing.parse_private_key(pem).public_key() == PLATFORM.public_key
    assert signing.Signer(signing.parse_private_key(SIGNING_KEY)).key_id == PLATFORM.key_id
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(SIGNING_KEY)).decode()
    assert signing.Signer(signing.parse_private_key(urlsafe)).key_id == PLATFORM.key_id
    expected_id = hashlib.sha256(signing.raw_public(PLATFORM.public_key)).hexdigest()[:16]
    assert PLATFORM.key_id == expected_id and PLATFORM.key_id not in repr(PLATFORM._key)
    assert repr(PLATFORM) == f"Signer(key_id={PLATFORM.key_id!r})"
    encrypted = ATTACKER_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"),
    ).decode()
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for bad, reason in [
        (encrypted, "is encrypted"),
        (other.decode(), "is not an Ed25519 key"),
        (base64.b64encode(b"short").decode(), "neither a PEM PKCS8 Ed25519 private key"),
        ("not base64 at all!", "neither a PEM PKCS8 Ed25519 private key"),
    ]:
        monkeypatch.setenv("TIERFLOW_SIGNING_KEY", bad)
        with pytest.raises(signing.BadKey, match=reason) as err:
            signing.configured_signer()
        body = bad.strip().splitlines()[1:-1] or [bad]  # a PEM's base64 lines, or the value
        assert "\n" not in str(err.value) and not any(line in str(err.value) for line in body)


@pytest.mark.unit
def test_the_whole_manifest_is_signed_deterministically_whatever_fields_it_holds():
    keys = {PLATFORM.key_id: PLATFORM.public_key}
    manifest = {"format": "tierflow-feed/1", "run_id": "r", "purge": True, "reason": "D-1 expired"}
    signed = PLATFORM.sign(manifest)
    assert signed == PLATFORM.sign(manifest) == PLATFORM.sign(signed)  # deterministic, idempotent
    assert (
        signed[signing.KEY_ID] == PLATFORM.key_id and signing.signature_problems(signed, keys) == []
    )
    round_trip = json.loads(manifest_bytes(signed))
    assert signing.signature_problems(round_trip, keys) == []
    for field, value in [
        ("purge", False),
        ("reason", "D-2"),
        ("extra", 1),
        (signing.KEY_ID, "0" * 16),
    ]:
        tampered = {**signed, field: value}
        assert signing.signature_problems(tampered, keys), field
    assert signing.signature_problems({**signed, "signature": "!!"}, keys) == [BAD_SIGNATURE]
    assert signing.signature_problems(signed, {}) == [signing.NO_PUBLIC_KEY]


@pytest.mark.unit
def test_keygen_writes_a_0600_key_never_over_another_and_public_keys_combine(
    tmp_path, capsys, monkeypatch
):
    code, out, _err = cli(capsys, "feeds", "keygen", "--out", str(tmp_path), "--json")
    made = json.loads(out)
    private = Path(made["private_key_file"])
    assert code == 0 and private.stat().st_mode & 0o777 == 0o600
    assert private.name == f"tierflow-signing-{made['key_id']}.key"
    key = signing.parse_private_key(private.read_text())
    assert signing.key_id(key.public_key()) == made["key_id"]
    assert signing.parse_public_key(made["public_key_file"]).public_bytes_raw() == base64.b64decode(
        made["public_key"]
    )
    assert not any(n in out.encode() for n in private_needles(key))
    with pytest.raises(signing.TierflowError, match="exists: not overwriting a key"):
        signing.write_key_pair(signing.Signer(ATTACKER_KEY), private, tmp_path / "x.pub")
    monkeypatch.delenv("TIERFLOW_SIGNING_KEY", raising=False)
    monkeypatch.setenv(signing.PUBLIC_KEYS_ENV, f" {made['public_key_file']} ,")
    keys = signing.verification_keys([signing.public_key_text(PLATFORM.public_key)])
    assert sorted(keys) == sorted([made["key_id"], PLATFORM.key_id])
    monkeypatch.setenv(signing.PUBLIC_KEYS_ENV, "nonsense")
    with pytest.raises(signing.BadKey, match="TIERFLOW_FEED_PUBLIC_KEYS item 1 is neither"):
        signing.verification_keys()


@pytest.mark.unit
def test_the_demo_provisions_its_own_signing_key_once_like_its_pseudonym_key(tmp_path, monkeypatch):
    from tierflow.demo_keys import provision_demo_secrets

    for name in ("TIERFLOW_SIGNING_KEY", "TIERFLOW_PSEUDONYM_KEY"):
        for variable in (name, f"{name}_FILE"):
            # set, then removed: monkeypatch restores a variable only once it has touched it,
            # and provisioning sets the _FILE ones in this process (later tests must not see them)
            monkeypatch.setenv(variable, "")
            monkeypatch.delenv(variable)
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    made = provision_demo_secrets()
    public = made["public_key_file"]
    key_file = tmp_path / "secrets" / "signing.key"
    assert public == tmp_path / "secrets" / "signing.pub"
    assert made["TIERFLOW_SIGNING_KEY_FILE"] == key_file  # named by path, for the stack too
    assert made["TIERFLOW_PSEUDONYM_KEY_FILE"] == tmp_path / "secrets" / "pseudonym.key"
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in (key_file, *made.values()) if f != public)
    assert (tmp_path / "secrets").stat().st_mode & 0o777 == 0o700
    first = signing.configured_signer().key_id
    assert signing.key_id(signing.parse_public_key(str(public))) == first
    monkeypatch.delenv("TIERFLOW_SIGNING_KEY_FILE")
    provision_demo_secrets()  # a second demo keeps the key (its feeds still verify)
    assert signing.configured_signer().key_id == first
    monkeypatch.setenv("TIERFLOW_SIGNING_KEY", SIGNING_KEY)  # a configured key wins
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "elsewhere"))
    assert "public_key_file" not in provision_demo_secrets()
    assert not (tmp_path / "elsewhere" / "secrets" / "signing.key").exists()


@pytest.mark.unit
def test_the_demos_keys_serve_the_embedded_warehouse_only(tmp_path, monkeypatch):
    """After `make demo` the next commands on the embedded warehouse find the demo's keys;
    with a configured database they never do (production keys are never guessed from files)."""
    from tierflow.masking import MissingPseudonymKey, pseudonym_secret

    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    for name in ("TIERFLOW_SIGNING_KEY", "TIERFLOW_PSEUDONYM_KEY", "TIERFLOW_DATABASE_URL"):
        for suffix in ("", "_FILE"):
            monkeypatch.delenv(name + suffix, raising=False)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pseudonym.key").write_text("demo-secret\n", encoding="utf-8")
    (tmp_path / "secrets" / "signing.key").write_text(SIGNING_KEY, encoding="utf-8")
    assert pseudonym_secret() == b"demo-secret"
    assert signing.configured_signer().key_id == PLATFORM.key_id
    monkeypatch.setenv("TIERFLOW_DATABASE_URL", "postgresql://somewhere/tierflow")
    with pytest.raises(MissingPseudonymKey):
        pseudonym_secret()
    with pytest.raises(signing.MissingSigningKey):
        signing.configured_signer()
