"""Registers tierflow's "Data quality & deliveries" page with Airflow (plugins folder entry point).

Kept tiny: the scheduler, dag-processor and workers import every plugin too, and only the
api-server ever serves the app.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from tierflow import ui


class TierflowDataQualityPlugin(AirflowPlugin):
    name = ui.PLUGIN_NAME
    fastapi_apps = ui.fastapi_apps()
    external_views = ui.external_views()
