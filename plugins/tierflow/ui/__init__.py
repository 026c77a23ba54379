"""The Airflow UI plugin "Data quality & deliveries": a FastAPI app plus a navigation entry.

The ``AirflowPlugin`` subclass itself lives in ``plugins/tierflow_ui_plugin.py``: Airflow imports
every ``.py`` file under ``plugins/`` and registers each plugin class it finds, so defining it
here too would register it twice.
"""

from __future__ import annotations

from typing import Any

PLUGIN_NAME = "tierflow_data_quality"
URL_PREFIX = "/tierflow"
URL_ROUTE = "tierflow-quality"


def fastapi_apps() -> list[dict[str, Any]]:
    from tierflow.ui.app import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Data quality & deliveries"}]


def external_views() -> list[dict[str, Any]]:
    """The navigation entry: Airflow shows our page in its frame at ``/plugin/tierflow-quality``."""
    return [
        {
            "name": "Data quality & deliveries",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": URL_ROUTE,
            "category": "browse",
        }
    ]
