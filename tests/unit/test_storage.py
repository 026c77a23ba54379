"""tierflow.storage: what a path or storage URL becomes, and the one-line refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow import config, storage
from tierflow.lineage import file_uri
from tierflow.settings import BadSetting, settings

pytestmark = pytest.mark.unit


def test_a_local_path_stays_a_plain_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = storage.path("landing")
    assert isinstance(p, Path) and not storage.is_remote(p)
    assert str(p) == str(tmp_path / "landing")
    assert storage.path(f"file://{tmp_path}/x") == tmp_path / "x"


def test_an_s3_url_keeps_its_bucket_and_key_and_prints_without_credentials(monkeypatch):
    monkeypatch.setenv("TIERFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-unit")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit-secret-value")
    p = storage.path("s3://bucket/pre/fix/")
    assert storage.is_remote(p) and p.path == "bucket/pre/fix"
    assert str(p / "a" / "b.csv") == "s3://bucket/pre/fix/a/b.csv"
    assert p.storage_options["endpoint_url"] == "http://127.0.0.1:9000"
    assert "key" not in p.storage_options  # botocore reads the AWS variables itself
    assert storage.url(p / "x") == "s3://bucket/pre/fix/x"
    assert "unit-secret-value" not in repr(p) + str(p)
    # lineage: the storage URL (OpenLineage namespace s3://bucket, name the key)
    assert file_uri(p / "feeds" / "500103") == "s3://bucket/pre/fix/feeds/500103"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://", "needs a bucket name"),
        ("s3:///prefix", "needs a bucket name"),
        ("s3://user:pw@host/x", "needs a bucket name"),
        ("ftp://host/x", "unsupported storage URL"),
        ("gs://bucket/x", "unsupported storage URL"),
        ("https://user:pw@host/x", "unsupported storage URL"),
    ],
)
def test_a_bad_url_is_one_line(url, message):
    with pytest.raises(storage.StorageError, match=message) as caught:
        storage.path(url)
    assert "\n" not in str(caught.value) and "pw" not in str(caught.value)


def test_the_storage_root_holds_the_files_and_home_the_local_state(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TIERFLOW_STORAGE", raising=False)
    assert storage.landing_dir() == tmp_path / "home" / "landing"  # today's layout by default
    assert storage.docs_dir() == config.docs_build_dir()
    monkeypatch.setenv("TIERFLOW_STORAGE", "s3://bucket/tierflow")
    for folder, name in [
        (storage.landing_dir(), "landing"),
        (storage.quarantine_dir(), "quarantine"),
        (storage.feeds_dir(), "feeds"),
        (storage.reports_dir(), "reports"),
        (storage.docs_dir(), "docs"),
    ]:
        assert str(folder) == f"s3://bucket/tierflow/{name}"
    assert config.data_root() == tmp_path / "home"  # database, secrets, spill: local
    assert config.docs_build_dir() == tmp_path / "home" / "docs"


def test_an_endpoint_with_credentials_in_it_is_refused(monkeypatch):
    monkeypatch.setenv("TIERFLOW_S3_ENDPOINT_URL", "http://key:secret@minio:9000")
    with pytest.raises(BadSetting, match="TIERFLOW_S3_ENDPOINT_URL") as caught:
        settings()
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_local_root_needs_no_check(tmp_path):
    assert storage.check(storage.path(tmp_path)) == tmp_path


def test_under_airflow_the_connection_gives_endpoint_and_keys_never_printed(tmp_path, monkeypatch):
    from tierflow.secrets import storage_connection

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("TIERFLOW_S3_ENDPOINT_URL", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIERFLOW_STORAGE",
        "aws://conn-login:conn-password-123@/?endpoint_url=http%3A%2F%2Fminio%3A9000",
    )
    storage_connection.cache_clear()
    try:
        options = storage.s3_options()
        assert options["endpoint_url"] == "http://minio:9000"
        assert (options["key"], options["secret"]) == ("conn-login", "conn-password-123")
        p = storage.path("s3://bucket/data") / "feeds"
        assert "conn-password-123" not in f"{p} {p!r} {storage.url(p)} {file_uri(p)}"
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")  # the variables win
        storage_connection.cache_clear()
        assert "key" not in storage.s3_options()
    finally:
        storage_connection.cache_clear()
