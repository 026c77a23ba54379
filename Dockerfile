# tierflow on the official Airflow image: same pinned requirements as development and CI.
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
RUN pip install --no-cache-dir --no-deps -e /opt/tierflow
