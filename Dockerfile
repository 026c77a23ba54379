# tierflow on the official Airflow image: same pinned requirements as development and CI.

# Data Docs' front-end files from pinned npm packages (plugins/tierflow/ui/assets.json), so the
# console loads nothing from a CDN.
FROM node:20-bookworm-slim AS assets
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY plugins/tierflow/ui/assets.py plugins/tierflow/ui/assets.json /build/
RUN python3 /build/assets.py --out /build/vendor

FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:root requirements.txt /opt/tierflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/tierflow/requirements.txt
COPY --chown=airflow:root pyproject.toml README.md /opt/tierflow/
COPY --chown=airflow:root plugins /opt/tierflow/plugins
COPY --from=assets --chown=airflow:root /build/vendor /opt/tierflow/plugins/tierflow/ui/static/vendor
RUN pip install --no-cache-dir --no-deps -e /opt/tierflow
