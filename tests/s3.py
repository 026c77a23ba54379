"""A real S3 API server on loopback for the object-storage tests: moto's server mode.

``moto[server]`` is a test dependency (requirements.txt). The server runs in this process
on a free port; each test gets a bucket of its own and ``TIERFLOW_STORAGE`` pointing at it,
with test credentials in the usual AWS variables (their secret is distinctive, so a test can
grep logs, manifests and ledgers for it).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pyarrow.fs as pafs

ACCESS_KEY = "tierflow-test-access"
SECRET_KEY = "tierflow-test-secret-4f9c1e"  # noqa: S105 - a test credential, grepped for


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str
    prefix: str = "tierflow"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def env(self) -> dict[str, str]:
        """What a process needs to use the bucket as its storage."""
        return {
            "TIERFLOW_STORAGE": self.url,
            "TIERFLOW_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def arrow(self) -> pafs.S3FileSystem:
        """pyarrow's own S3 client on the bucket (independent of tierflow's path layer)."""
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            endpoint_override=self.endpoint,
            region="us-east-1",
            scheme="http",
            allow_bucket_creation=True,
        )

    def keys(self, under: str = "") -> list[str]:
        """Every object key of the bucket under ``prefix/under`` (relative to the prefix)."""
        import pyarrow.fs as pafs

        base = f"{self.bucket}/{self.prefix}"
        selector = pafs.FileSelector(
            f"{base}/{under}".rstrip("/"), recursive=True, allow_not_found=True
        )
        infos = self.arrow().get_file_info(selector)
        return sorted(i.path[len(base) + 1 :] for i in infos if i.type == pafs.FileType.File)

    def read(self, key: str) -> bytes:
        with self.arrow().open_input_stream(f"{self.bucket}/{self.prefix}/{key}") as handle:
            return handle.read()


def start_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{server._server.server_port}"  # noqa: SLF001 - port 0: ask it
    finally:
        server.stop()


def new_bucket(endpoint: str) -> S3:
    s3 = S3(endpoint, f"tierflow-{uuid.uuid4().hex[:12]}")
    s3.arrow().create_dir(s3.bucket)
    return s3
