"""Every environment variable tierflow reads, parsed once, typed, in one place.

``settings()`` returns a frozen model; it is parsed again only when one of the variables
below changes (tests and the CLI set them), so callers never read ``os.environ`` themselves.
A malformed value is a one-line error naming the variable. Secrets (the pseudonym and
signing keys) are not settings: ``tierflow.secrets`` looks them up when needed, so they
never sit in an object that could be printed.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierflow.errors import TierflowError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# variable → field; defaults live on the fields
VARIABLES = {
    "TIERFLOW_HOME": "home",
    "TIERFLOW_STORAGE": "storage",
    "TIERFLOW_S3_ENDPOINT_URL": "s3_endpoint_url",
    "TIERFLOW_SCHEMAS_DIR": "schemas_dir",
    "TIERFLOW_EXPECTATIONS_DIR": "expectations_dir",
    "TIERFLOW_DATABASE_URL": "database_url",
    "TIERFLOW_LATE_GRACE_MINUTES": "late_grace_minutes",
    "TIERFLOW_RETRY_DELAY_SECONDS": "retry_delay_seconds",
    "TIERFLOW_SENSOR_POKE_SECONDS": "sensor_poke_seconds",
    "TIERFLOW_DEADLINE_ALERTS": "deadline_alerts",
    "TIERFLOW_ALERT_EMAIL_TO": "alert_email_to",
    "TIERFLOW_FEED_ROWS_PER_PART": "feed_rows_per_part",
    "TIERFLOW_SINK_SPILL_ABOVE_ROWS": "sink_spill_above_rows",
    "TIERFLOW_SINK_ROWS_PER_STATEMENT": "sink_rows_per_statement",
    "TIERFLOW_SINK_STATEMENTS_PER_WORKER": "sink_statements_per_worker",
    "TIERFLOW_SINK_WORKERS": "sink_workers",
    "TIERFLOW_BLOCK_BYTES": "block_bytes",
    "TIERFLOW_GX_SAMPLE_ROWS": "gx_sample_rows",
    "TIERFLOW_KILL_AT": "kill_at",
    "TIERFLOW_FAIL_AT": "fail_at",
    "TIERFLOW_FAIL_MARKER": "fail_marker",
    "TIERFLOW_DEBUG": "debug",
    "TIERFLOW_CACHE_DIR": "cache_dir",
    "TIERFLOW_LINEAGE_POSTGRES": "lineage_postgres",
    "CITUS_SOURCE": "citus_source",
    "TIERFLOW_AIRFLOW_API_URL": "airflow_api_url",
    "TIERFLOW_AIRFLOW_API_USER": "airflow_api_user",
}

# values an error never repeats (a URL may carry user:password@)
NOT_SHOWN = {"s3_endpoint_url"}

CITUS_RELEASE = "https://github.com/citusdata/citus/archive/refs/tags/v14.0.1.tar.gz"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Path(".tierflow")  # local state: embedded database, secrets, GX project, spill
    # root of landing/, quarantine/, feeds/, reports/, docs/ (tierflow.storage): a local path
    # or s3://bucket/prefix; default the home folder
    storage: str | None = None  # checked by tierflow.storage.path (one-line errors)
    s3_endpoint_url: str | None = Field(None, pattern=r"^https?://[^\s@]+$")  # no user:password@
    schemas_dir: Path = PROJECT_ROOT / "schemas"
    expectations_dir: Path = PROJECT_ROOT / "expectations"
    database_url: str | None = None  # else an Airflow connection, else the embedded server
    late_grace_minutes: int = Field(30, ge=0)
    retry_delay_seconds: int = Field(120, ge=0)
    sensor_poke_seconds: int = Field(300, ge=1)
    deadline_alerts: bool = True
    alert_email_to: str = ""
    feed_rows_per_part: int = Field(1_000_000, ge=1)
    sink_spill_above_rows: int = Field(1_000_000, ge=-1)  # -1: always spill (tests)
    sink_rows_per_statement: int = Field(1_000_000, ge=1)
    sink_statements_per_worker: int = Field(2, ge=1)
    sink_workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 2), ge=1)
    block_bytes: int = Field(16 << 20, ge=1024)
    gx_sample_rows: int = Field(100_000, ge=0)
    kill_at: str | None = None  # fault injection for the reliability tests
    fail_at: str | None = None
    fail_marker: Path = Path(".tierflow-fault-fired")
    debug: bool = False
    cache_dir: Path | None = None  # builds kept between runs (Citus); default $TIERFLOW_HOME/cache
    citus_source: str = CITUS_RELEASE  # a tarball path or URL (tierflow cluster up builds it)
    # where commands run outside Airflow (the CLI) announce Asset events: the api-server's base
    # URL (e.g. http://127.0.0.1:8080) and its user; the password is a secret (tierflow.secrets)
    airflow_api_url: str | None = None
    airflow_api_user: str | None = None
    # host:port lineage events name the warehouse by (OpenLineage namespace postgres://host:port)
    # when the database URL's host is not the one other systems know it by; default the URL's
    lineage_postgres: str | None = Field(None, pattern=r"^[A-Za-z0-9.\-\[\]:]+:\d+$")


class BadSetting(TierflowError):
    """An environment variable holds a value tierflow cannot use."""


@lru_cache(maxsize=8)
def _parse(values: tuple[str | None, ...]) -> Settings:
    given = {
        field: value
        for field, value in zip(VARIABLES.values(), values, strict=True)
        if value not in (None, "")
    }
    for flag in ("deadline_alerts", "debug"):
        if flag in given:
            given[flag] = given[flag] not in ("0", "false", "no")
    try:
        return Settings.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = first["loc"][0]
        name = next(k for k, v in VARIABLES.items() if v == field)
        shown = "<not shown>" if field in NOT_SHOWN else repr(given.get(field))
        raise BadSetting(f"{name}={shown}: {first['msg']}") from None


def settings() -> Settings:
    """The settings of the current environment (parsed once per distinct environment)."""
    return _parse(tuple(os.environ.get(name) for name in VARIABLES))


def user_cache() -> Path:
    """Builds kept for every checkout of this user (``$XDG_CACHE_HOME/tierflow``, by default
    ``~/.cache/tierflow``): the tests' Citus build and the bench's dbt venv, each named by its
    pins, so a fresh clone (CI's) on the same machine reuses them."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tierflow"
