"""The FastAPI app the Airflow api-server mounts at ``/tierflow`` (see ``tierflow_ui_plugin``).

Every page and JSON route requires the Airflow UI's login: the JWT the UI keeps in its ``_token``
cookie, or an ``Authorization: Bearer`` token from ``/auth/token``, checked by Airflow's own
``get_user`` dependency against the configured auth manager. Browsers without a valid session
(none, expired, or a stale or forged cookie) are sent to the login page; API clients get the
status (401, or 403 for a token that is not valid). Only public library files are served without
a login: the console's stylesheet and the Data Docs' static folder (a sandboxed Data Docs page has
an opaque origin, so its browser sends no session cookie for them).

Headers on every response: ``tierflow.ui.security``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from sqlalchemy.engine import Engine

from tierflow.ui import security

log = logging.getLogger(__name__)
URL_PREFIX = "/tierflow"
STATIC = Path(__file__).with_name("static")


def warehouse() -> Engine:
    """The warehouse engine; a dependency so tests can point it at their own database."""
    from tierflow.db import engine

    return engine()


async def require_user(request: Request) -> Any:
    """Airflow's authenticated user, who must also be allowed to see the website views."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    try:
        user = await get_user(request, None, credentials)
    except HTTPException as exc:  # no, expired, stale or forged credentials
        raise NotSignedIn(exc.status_code, exc.detail, exc.headers) from None
    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")
    return user


class NotSignedIn(HTTPException):
    """The request carries no valid session (Airflow said 401 or 403 for its credentials)."""


User = Annotated[Any, Depends(require_user)]
Warehouse = Annotated[Engine, Depends(warehouse)]
Days = Annotated[int, Query(ge=1, le=366)]


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def _auth_error(request: Request, exc: Exception) -> Response:
    """Browsers without a valid session go to Airflow's login page and come back; APIs get the
    status. A signed-in user who may not see the console gets 403 either way (no login loop)."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc, NotSignedIn) and _wants_html(request):
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(
            get_auth_manager().get_url_login(next_url=str(request.url)),
            status_code=status.HTTP_303_SEE_OTHER,
        )
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    """A bare 500, with the console's headers: Starlette answers it outside every middleware."""
    log.exception("tierflow console: %s %s failed", request.method, request.url.path)
    headers = {**security.COMMON, "content-security-policy": security.CONSOLE_CSP}
    headers["cache-control"] = security.NO_STORE
    return PlainTextResponse("Internal Server Error", status_code=500, headers=headers)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _base(request: Request) -> str:
    # root_path is where the api-server mounted us (/tierflow); empty under a bare TestClient
    return request.scope.get("root_path", "").rstrip("/")


def create_app() -> FastAPI:
    app = FastAPI(
        title="tierflow: data quality & deliveries",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_exception_handler(HTTPException, _auth_error)
    app.add_exception_handler(Exception, _server_error)
    app.add_middleware(security.SecurityHeaders)

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request, user: User, eng: Warehouse, days: Days = 14) -> str:
        from tierflow.contracts import catalog
        from tierflow.ui.pages import render_overview

        return render_overview(eng, catalog(), base=_base(request), user=_username(user), days=days)

    @app.get("/datasets/{dataset_id}", response_class=HTMLResponse)
    def dataset(
        request: Request, dataset_id: str, user: User, eng: Warehouse, days: Days = 30
    ) -> str:
        from tierflow.contracts import catalog
        from tierflow.errors import TierflowError
        from tierflow.ui.pages import render_dataset

        try:
            return render_dataset(
                eng, catalog(), dataset_id, base=_base(request), user=_username(user), days=days
            )
        except TierflowError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None

    @app.get("/api/summary")
    def summary(user: User, eng: Warehouse, days: Days = 14) -> Response:
        from tierflow.contracts import catalog
        from tierflow.ui.pages import overview_context

        body = json.dumps(overview_context(eng, catalog(), days=days), default=_json_default)
        return Response(body, media_type="application/json")

    @app.get("/lists", response_class=HTMLResponse)
    def lists(request: Request, user: User, eng: Warehouse) -> str:
        from tierflow.ui.pages import render_lists

        return render_lists(eng, base=_base(request), user=_username(user))

    @app.get("/api/lists")
    def lists_json(user: User, eng: Warehouse) -> Response:
        from tierflow.ui.pages import lists_context

        body = json.dumps(lists_context(eng), default=_json_default)
        return Response(body, media_type="application/json")

    @app.get("/static/{path:path}", include_in_schema=False)
    def console_static(path: str) -> FileResponse:
        """The console's own stylesheet: the pages have no inline style or script."""
        return _static_file(STATIC / "console", path)

    @app.get("/data-docs/static/{path:path}", include_in_schema=False)
    def data_docs_static(path: str) -> FileResponse:
        """What Data Docs load: the pinned npm files (``vendor/``) and GX's own static folder.

        Served from the installed packages, never from the Data Docs folder on disk, and without
        a login: they are public library files, and a sandboxed page sends no session cookie.
        """
        if path.startswith("vendor/"):
            return _static_file(STATIC / "vendor", path.removeprefix("vendor/"))
        return _static_file(_gx_static(), path)

    @app.get("/data-docs/{path:path}")
    def data_docs(path: str, user: User) -> FileResponse:
        """A Data Docs page, behind the login, sandboxed (``security.DATA_DOCS_CSP``)."""
        from tierflow.ui.pages import data_docs_dir

        target = _file_in(data_docs_dir(), path or "index.html", suffixes=(".html",))
        return FileResponse(
            target, media_type="text/html; charset=utf-8", headers=security.data_docs_headers()
        )

    return app


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "no such file")


def _file_in(root: Path, path: str, *, suffixes: tuple[str, ...] | None = None) -> Path:
    """The regular file ``path`` names under ``root``, or 404 (never a 500, never outside)."""
    relative = security.safe_relative_path(path)
    if relative is None or (suffixes is not None and relative.suffix not in suffixes):
        raise _not_found()
    try:
        base = root.resolve()
        target = (base / relative).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            raise _not_found()
    except (OSError, ValueError):  # too long a name, a loop of symlinks, ...
        raise _not_found() from None
    return target


STATIC_SUFFIXES = (".css", ".js", ".png", ".ico", ".svg", ".gif", ".woff2", ".ttf", ".otf")


def _static_file(root: Path, path: str) -> FileResponse:
    target = _file_in(root, path, suffixes=STATIC_SUFFIXES)
    return FileResponse(target, headers=security.static_headers())


def _gx_static() -> Path:
    import great_expectations

    return Path(great_expectations.__file__).parent / "render" / "view" / "static"


def _username(user: Any) -> str:
    getter = getattr(user, "get_name", None)
    return str(getter() if callable(getter) else user)
