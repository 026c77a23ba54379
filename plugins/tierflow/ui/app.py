"""The FastAPI app the Airflow api-server mounts at ``/tierflow`` (see ``tierflow_ui_plugin``).

Every route requires the Airflow UI's login: the JWT the UI keeps in its ``_token`` cookie, or an
``Authorization: Bearer`` token from ``/auth/token``, checked by Airflow's own ``get_user``
dependency against the configured auth manager. Browsers without a session are sent to the login
page; API clients get 401.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine

URL_PREFIX = "/tierflow"


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
    user = await get_user(request, None, credentials)
    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")
    return user


User = Annotated[Any, Depends(require_user)]
Warehouse = Annotated[Engine, Depends(warehouse)]
Days = Annotated[int, Query(ge=1, le=366)]


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def _auth_error(request: Request, exc: Exception) -> Response:
    """Unauthenticated browsers go to Airflow's login page and come back; APIs get the status."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == status.HTTP_401_UNAUTHORIZED and _wants_html(request):
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(
            get_auth_manager().get_url_login(next_url=str(request.url)),
            status_code=status.HTTP_303_SEE_OTHER,
        )
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


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

    @app.get("/data-docs/{path:path}")
    def data_docs(path: str, user: User) -> FileResponse:
        from tierflow.ui.pages import data_docs_dir

        root = data_docs_dir().resolve()
        target = (root / (path or "index.html")).resolve()
        # Data Docs are static files, but served behind the login, and never outside their folder.
        if not target.is_relative_to(root) or not target.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no Data Docs page {path!r}")
        return FileResponse(Path(target))

    return app


def _username(user: Any) -> str:
    getter = getattr(user, "get_name", None)
    return str(getter() if callable(getter) else user)
