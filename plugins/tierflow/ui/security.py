"""Response headers of the console and its Data Docs, and the paths the Data Docs route accepts.

The console is served on the origin of the Airflow UI and its REST API, so every response
says what the browser may do with it:

- console pages (``CONSOLE_CSP``): scripts, styles, images only from this server, no inline
  script or style at all (the pages have none), framed only by the Airflow UI itself;
- Data Docs pages (``DATA_DOCS_CSP``): ``sandbox allow-scripts``, never ``allow-same-origin``:
  the page runs in an opaque origin, so even a value that escaped escaping cannot read the
  Airflow session or call its API, and it may connect nowhere. GX's pages need their inline
  scripts and handlers, which the sandbox allows inside that opaque origin only;
- static assets (``STATIC_CSP``): never a document.

Every response gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: SAMEORIGIN`` (with
``frame-ancestors 'self'``: Airflow shows the console in its own frame), ``Referrer-Policy:
no-referrer``, and ``Cache-Control: no-store`` unless it is a static asset (pages and JSON
show personal data: samples, district figures, file names).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import PurePosixPath
from typing import Any

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'self'"
)
DATA_DOCS_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
STATIC_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
NO_STORE = "no-store"
STATIC_CACHE = "public, max-age=3600"

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def data_docs_headers() -> dict[str, str]:
    return {"content-security-policy": DATA_DOCS_CSP, "cache-control": NO_STORE}


def static_headers() -> dict[str, str]:
    # Fonts are fetched in CORS mode, and a sandboxed Data Docs page has an opaque origin:
    # only an open ACAO lets it load them. These are public library files, no data.
    return {
        "content-security-policy": STATIC_CSP,
        "cache-control": STATIC_CACHE,
        "access-control-allow-origin": "*",
        "cross-origin-resource-policy": "cross-origin",
    }


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware: the console's defaults on every response that did not set its own.

    Pure ASGI (not ``BaseHTTPMiddleware``), so error responses of the exception handlers and
    file responses get the headers too.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                defaults = {
                    **COMMON,
                    "content-security-policy": CONSOLE_CSP,
                    "cache-control": NO_STORE,
                }
                for name, value in defaults.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_PATH_CHARS = 512


def safe_relative_path(raw: str) -> PurePosixPath | None:
    """``raw`` as a plain relative path of named parts, or None when it is anything else.

    Refused: NUL and every other control, format or unassigned character (``Cc``, ``Cf``,
    ``Cs``, ``Co``, ``Cn``), backslashes, ``.``/``..``/empty parts, absolute paths, and paths
    longer than ``MAX_PATH_CHARS``. The caller still checks the resolved file stays inside
    its folder (symlinks).
    """
    if not raw or len(raw) > MAX_PATH_CHARS or "\\" in raw or raw.startswith("/"):
        return None
    if any(unicodedata.category(ch).startswith("C") for ch in raw):
        return None
    parts = raw.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return PurePosixPath(*parts)
