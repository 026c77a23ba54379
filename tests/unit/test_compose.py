"""docker-compose.yaml is checked by parsing it: no Docker engine exists on these machines."""

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yaml").read_text())


def test_stack_has_the_services_of_the_official_celery_deployment():
    services = set(COMPOSE["services"])
    assert {
        "postgres",
        "redis",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-init",
        "airflow-worker-1",
        "airflow-worker-2",
    } <= services
    for name, service in COMPOSE["services"].items():
        if name not in ("airflow-init", "citus-init", "minio-init"):  # one-shot services
            assert "healthcheck" in service, f"{name} has no health check"


def test_airflow_services_run_celery_and_mount_the_project():
    for name, service in COMPOSE["services"].items():
        if not name.startswith("airflow-"):
            continue
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        targets = {_mount_target(v) for v in service["volumes"]}
        assert {
            "/opt/airflow/dags",
            "/opt/airflow/plugins",
            "/opt/airflow/schemas",
            "/opt/airflow/expectations",
            "/opt/tierflow/data",
        } <= targets
        assert service["build"] == "." and "AIRFLOW_CONN_TIERFLOW_WAREHOUSE" in env


def _mount_target(volume: str) -> str:
    parts = volume.split(":")
    return parts[-2] if parts[-1] in ("ro", "rw") else parts[-1]


def test_the_image_is_built_from_the_pinned_requirements():
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert "FROM apache/airflow:3.3.2-python3.11" in dockerfile
    assert "requirements.txt" in dockerfile


def test_the_platform_secrets_are_generated_once_by_init_and_handed_over_as_files():
    data = "/opt/tierflow/data/secrets/"
    for name, service in COMPOSE["services"].items():
        if name.startswith("airflow-"):
            env = service["environment"]
            assert env["TIERFLOW_PSEUDONYM_KEY_FILE"] == data + "pseudonym.key", name
            assert env["TIERFLOW_SIGNING_KEY_FILE"] == data + "signing.key", name
            assert not {"TIERFLOW_PSEUDONYM_KEY", "TIERFLOW_SIGNING_KEY"} & set(env), name
    init = COMPOSE["services"]["airflow-init"]["command"][-1]
    assert 'if [ ! -s "$$file" ]' in init and "umask 077" in init and "chmod 0600" in init
    assert "echo" not in init and "cat " not in init  # never printed


def test_the_citus_profile_is_a_coordinator_and_two_workers_the_airflow_stack_can_use():
    services = COMPOSE["services"]
    cluster = {n: s for n, s in services.items() if "citus" in s.get("profiles", [])}
    assert set(cluster) == {"citus-coordinator", "citus-worker-1", "citus-worker-2", "citus-init"}
    for name, service in cluster.items():
        assert service["image"].startswith("citusdata/citus:14."), name
    # only the coordinator is on the stack's network; the workers, which trust connections,
    # on the internal one with it alone
    assert set(services["citus-coordinator"]["networks"]) == {"default", "citus-internal"}
    for worker in ("citus-worker-1", "citus-worker-2"):
        assert services[worker]["networks"] == ["citus-internal"], worker
        assert "ports" not in services[worker]
        assert services[worker]["environment"]["POSTGRES_DB"] == "tierflow"
    assert COMPOSE["networks"]["citus-internal"]["internal"] is True
    assert "POSTGRES_HOST_AUTH_METHOD" not in services["citus-coordinator"]["environment"]
    init = services["citus-init"]["command"][-1]
    assert "citus_set_coordinator_host('citus-coordinator'" in init
    assert "'citus-worker-1', 'citus-worker-2'" in init and "citus_add_node" in init
    # the Airflow stack: its warehouse connection names the host to use; it waits for the
    # cluster when the profile is on, and starts without it otherwise
    for name, service in services.items():
        if name.startswith("airflow-"):
            env = service["environment"]
            assert (
                "@${TIERFLOW_WAREHOUSE_HOST:-postgres}:5432/tierflow"
                in (env["AIRFLOW_CONN_TIERFLOW_WAREHOUSE"])
            ), name
            wait = service["depends_on"]["citus-init"]
            assert wait == {"condition": "service_completed_successfully", "required": False}
    assert "tierflow db upgrade" in services["airflow-init"]["command"][-1]


def test_every_airflow_service_sends_lineage_to_the_stacks_marquez():
    marquez = COMPOSE["services"]["marquez"]
    port = marquez["environment"]["MARQUEZ_PORT"]
    assert marquez["environment"]["POSTGRES_HOST"] == "postgres"
    init = (Path(__file__).resolve().parents[2] / "deploy" / "postgres-init.sql").read_text()
    assert f"create database {marquez['environment']['POSTGRES_DB']}" in init
    for name, service in COMPOSE["services"].items():
        if not name.startswith("airflow-"):
            continue
        env = service["environment"]
        assert env["OPENLINEAGE__TRANSPORT__TYPE"] == "http"
        assert env["OPENLINEAGE__TRANSPORT__URL"] == f"${{OPENLINEAGE_URL:-http://marquez:{port}}}"
        assert env["OPENLINEAGE__TRANSPORT__ENDPOINT"] == "api/v1/lineage"
        assert env["TIERFLOW_LINEAGE_POSTGRES"].endswith("postgres:5432}")
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    requirements = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text()
    assert "requirements.txt" in dockerfile
    assert "apache-airflow-providers-openlineage==" in requirements


def test_files_live_in_the_stacks_minio_bucket_which_init_creates():
    from urllib.parse import parse_qs, urlsplit

    services = COMPOSE["services"]
    minio, init = services["minio"], services["minio-init"]
    assert minio["image"].startswith("minio/minio:RELEASE.")
    assert minio["command"].startswith("server /data")
    assert "minio-volume:/data" in minio["volumes"] and "minio-volume" in COMPOSE["volumes"]
    assert init["depends_on"] == {"minio": {"condition": "service_healthy"}}
    script = init["command"][-1]
    assert "mc mb --ignore-existing stack/tierflow" in script
    assert "echo" not in script and ">/dev/null" in script  # the keys are never printed
    for name, service in services.items():
        if not name.startswith("airflow-"):
            continue
        env = service["environment"]
        assert env["TIERFLOW_STORAGE"] == "${TIERFLOW_STORAGE:-s3://tierflow/data}", name
        # the bucket the storage names is the one minio-init creates
        assert env["TIERFLOW_STORAGE"].split("s3://")[1].split("/")[0] in script
        conn = urlsplit(env["AIRFLOW_CONN_TIERFLOW_STORAGE"])
        # the keys MinIO starts with (compose fills the variables in before Airflow parses it)
        user, password = (
            minio["environment"][k] for k in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")
        )
        assert conn.netloc == f"{user}:{password}@", name
        assert parse_qs(conn.query)["endpoint_url"] == ["http://minio:9000"], name
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env), name
        wait = service["depends_on"]["minio-init"]
        assert wait == {"condition": "service_completed_successfully"}, name
    assert "9000:9000" in minio["ports"]
