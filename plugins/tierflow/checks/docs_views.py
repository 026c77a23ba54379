"""GX Data Docs views that load nothing from outside the server (the site builder names them).

GX's page templates pull Vega, jQuery, Bootstrap, bootstrap-table, a date picker and Font
Awesome from public CDNs and a logo from a public bucket with the data context id; these
views render the same pages with tierflow's templates (``docs_templates/``) put before GX's:
every stylesheet, script, image and font comes from ``static/`` of the site as the plugin
serves it (pinned npm packages built by ``tierflow.ui.assets`` and GX's own static folder).
External ``url(...)`` references in GX's inline stylesheets are dropped too.

Imported by GX only, when ``suites._docs_context`` builds the site.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BaseLoader, Environment, FileSystemLoader, TemplateNotFound

TEMPLATES = Path(__file__).with_name("docs_templates")
_EXTERNAL_CSS_URL = re.compile(r"""url\(\s*(['"]?)(?:https?:)?//[^)]*\1\s*\)""", re.IGNORECASE)


class _OfflineLoader(BaseLoader):
    """tierflow's templates first, then GX's (its stylesheets without external ``url()``s)."""

    def __init__(self, gx: BaseLoader) -> None:
        self.ours = FileSystemLoader(TEMPLATES)
        self.gx = gx

    def get_source(self, environment: Environment, template: str) -> tuple[str, Any, Any]:
        try:
            return self.ours.get_source(environment, template)
        except TemplateNotFound:
            source, filename, uptodate = self.gx.get_source(environment, template)
        if template.endswith(".css"):
            source = _EXTERNAL_CSS_URL.sub("none", source)
        return source, filename, uptodate


class _Offline:
    env: Environment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert self.env.loader is not None
        self.env.loader = _OfflineLoader(self.env.loader)


class OfflinePageView(_Offline, DefaultJinjaPageView):
    """Expectation suite and validation result pages."""


class OfflineIndexPageView(_Offline, DefaultJinjaIndexPageView):
    """The site's index page."""
