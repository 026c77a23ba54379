#!/usr/bin/env bash
# The docker-compose stack without Docker: Airflow's api-server, scheduler, dag-processor,
# triggerer and two Celery workers as local processes, against PostgreSQL and Redis on 127.0.0.1.
#
#   deploy/local/stack.sh start | stop | status
#
# Settings (environment; defaults in brackets):
#   AIRFLOW_HOME        [.tierflow/airflow]  config, logs, PID files (run/), stack.env
#   TIERFLOW_HOME       [.tierflow]          landing/, quarantine/, feeds/, docs/
#   STACK_PG            [postgres@127.0.0.1:5432]  server for the Airflow and warehouse databases
#   STACK_AIRFLOW_DB    [airflow]            Airflow metadata database (created when missing)
#   STACK_FRESH_DB      [0]                  1: drop and recreate the metadata database on start
#   STACK_AIRFLOW_DB_URL [postgresql+psycopg2://$STACK_PG/$STACK_AIRFLOW_DB]  the metadata
#                       database as a URL, used as given (`tierflow demo --ui` names the embedded
#                       server's socket); STACK_PG and psql are then not needed
#   TIERFLOW_DATABASE_URL [postgresql://$STACK_PG/tierflow]  the warehouse (migrated on start)
#   STACK_REDIS_DB      [0]                  Redis database number used as the Celery broker
#   STACK_QUEUE         [default]            the Celery queue of this stack's tasks and workers
#                                            (stacks sharing one Redis never take each other's)
#   STACK_PORT          [8080]               api-server port (UI at http://127.0.0.1:$STACK_PORT)
#   STACK_LOG_PORT      [8793]               log servers: worker1 this, worker2 +1, triggerer +2
#   STACK_HEALTH_PORT   [8974]               the scheduler's health check server
#   STACK_ADMIN_USER / STACK_ADMIN_PASSWORD [admin / admin]  the UI login (simple auth manager)
#   STACK_ANALYST_USER / STACK_ANALYST_PASSWORD [district_analyst / district_analyst]  a second
#                       login, role "user": may trigger DAGs and see Required Actions, but
#                       approves nothing (not an approver in schemas/lists/responsibility.yaml)
#   STACK_WORKER_CONCURRENCY [2]             task slots per Celery worker
#   STACK_SERVICES      [all six]            start (and report) only these, e.g. "api-server"
#   TIERFLOW_PSEUDONYM_KEY / TIERFLOW_SIGNING_KEY (or their _FILE variants)  the platform's
#                       secrets; when unset, generated once under $AIRFLOW_HOME/secrets/ (0600)
# Everything a process gets is written to $AIRFLOW_HOME/stack.env (mode 0600): `source` it to
# use the `airflow` CLI against the running stack, or `tierflow feeds public-key` to print the
# public key districts verify the feeds with.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${STACK_BIN:-$ROOT/.venv/bin}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.tierflow/airflow}"
RUN="$AIRFLOW_HOME/run"
LOGS="$AIRFLOW_HOME/logs/stack"
ENV_FILE="$AIRFLOW_HOME/stack.env"
SERVICES=(api-server scheduler dag-processor triggerer worker1 worker2)

PG="${STACK_PG:-postgres@127.0.0.1:5432}"
PG_HOST_PORT="${PG#*@}"
PG_HOST="${PG_HOST_PORT%:*}"
PG_PORT="${PG_HOST_PORT##*:}"
PG_USER="${PG%@*}"
AIRFLOW_DB="${STACK_AIRFLOW_DB:-airflow}"
PORT="${STACK_PORT:-8080}"
LOG_PORT="${STACK_LOG_PORT:-8793}"
QUEUE="${STACK_QUEUE:-default}"

log() { printf '[stack] %s\n' "$*" >&2; }

psql_admin() { psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qtAX "$@"; }

ensure_services() {
    if [[ -n "${STACK_AIRFLOW_DB_URL:-}" ]]; then
        :  # the caller's server (the demo's embedded one): it answers or the migration says so
    elif ! pg_isready -h "$PG_HOST" -p "$PG_PORT" -q; then
        log "PostgreSQL is not answering on $PG_HOST:$PG_PORT; start it with:"
        log "  pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
        exit 1
    fi
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        log "starting Redis on 127.0.0.1:6379"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
        for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
    fi
}

ensure_database() {
    local name="$1" fresh="${2:-0}"
    if [[ "$fresh" == 1 ]]; then
        psql_admin -c "drop database if exists \"$name\" with (force)"
    fi
    if [[ -z "$(psql_admin -c "select 1 from pg_database where datname = '$name'")" ]]; then
        log "creating database $name"
        psql_admin -c "create database \"$name\""
    fi
}

# A secret shared by every process (the api-server signs, workers and triggerer present tokens);
# generated once per AIRFLOW_HOME so a restart keeps sessions valid.
secret() {
    local file="$AIRFLOW_HOME/.$1"
    [[ -s "$file" ]] || (umask 077; "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(48))' >"$file")
    cat "$file"
}

# The platform's secrets (pseudonym key, feed signing key): generated once per AIRFLOW_HOME,
# kept 0600 under $AIRFLOW_HOME/secrets/, handed to every process as NAME_FILE: only the
# file's path is in stack.env, never the secret. A caller's NAME or NAME_FILE wins (NAME
# reaches the processes through the environment and is not written anywhere).
platform_secret() {
    local name="$1" file="$AIRFLOW_HOME/secrets/$2" make="$3" ref="${1}_FILE"
    [[ -z "${!name:-}" ]] || return 0
    if [[ -n "${!ref:-}" ]]; then
        printf "export %s='%s'\n" "$ref" "${!ref}"
        return 0
    fi
    if [[ ! -s "$file" ]]; then
        (umask 077; mkdir -p "${file%/*}"; "$BIN/python" -c "$make" >"$file.tmp" && mv "$file.tmp" "$file")
        log "generated $name in $file (mode 0600)"
    fi
    printf "export %s='%s'\n" "$ref" "$file"
}

write_env() {
    local warehouse="${TIERFLOW_DATABASE_URL:-postgresql://$PG/tierflow}"
    local tierflow_home="${TIERFLOW_HOME:-$ROOT/.tierflow}"
    local admin="${STACK_ADMIN_USER:-admin}"
    local metadata="${STACK_AIRFLOW_DB_URL:-postgresql+psycopg2://$PG/$AIRFLOW_DB}"
    mkdir -p "$RUN" "$LOGS" "$tierflow_home"
    # Simple auth manager: the user list comes from config, its password from this file; a
    # password already in the file is kept, so the login is known (tests, docs) and not random.
    # The admin first: `tierflow demo --ui` reports the file's first login as the UI's.
    local analyst="${STACK_ANALYST_USER:-district_analyst}"
    "$BIN/python" - "$AIRFLOW_HOME/simple_auth_manager_passwords.json" "$admin" \
        "${STACK_ADMIN_PASSWORD:-admin}" "$analyst" "${STACK_ANALYST_PASSWORD:-$analyst}" <<'PY'
import json, sys
path, user, password, analyst, analyst_password = sys.argv[1:]
with open(path, "w") as f:
    json.dump({user: password, analyst: analyst_password}, f)
PY
    local pseudonym signing
    pseudonym="$(platform_secret TIERFLOW_PSEUDONYM_KEY pseudonym.key 'import secrets; print(secrets.token_hex(32))')"
    # base64 of a random 32-byte Ed25519 seed: the form TIERFLOW_SIGNING_KEY takes
    signing="$(platform_secret TIERFLOW_SIGNING_KEY signing.key 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
    (umask 077; : >"$ENV_FILE")
    chmod 600 "$ENV_FILE"  # it holds the API and JWT secrets
    cat >"$ENV_FILE" <<EOF
export AIRFLOW_HOME='$AIRFLOW_HOME'
${pseudonym}
${signing}
export TIERFLOW_HOME='$tierflow_home'
export TIERFLOW_DATABASE_URL='$warehouse'
export TIERFLOW_SENSOR_POKE_SECONDS='${TIERFLOW_SENSOR_POKE_SECONDS:-30}'
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CORE__DAGS_FOLDER='$ROOT/dags'
export AIRFLOW__CORE__PLUGINS_FOLDER='$ROOT/plugins'
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS='$admin:admin,$analyst:user'
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE='$AIRFLOW_HOME/simple_auth_manager_passwords.json'
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL='http://127.0.0.1:$PORT/execution/'
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN='$metadata'
export AIRFLOW__CELERY__BROKER_URL='redis://127.0.0.1:6379/${STACK_REDIS_DB:-0}'
export AIRFLOW__CELERY__RESULT_BACKEND='db+$metadata'
export AIRFLOW__CELERY__WORKER_CONCURRENCY='${STACK_WORKER_CONCURRENCY:-2}'
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT='$PORT'
export AIRFLOW__API__BASE_URL='http://127.0.0.1:$PORT'
export AIRFLOW__API__WORKERS=1
export AIRFLOW__API__SECRET_KEY='$(secret api_secret)'
export AIRFLOW__API_AUTH__JWT_SECRET='$(secret jwt_secret)'
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True
export AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT='${STACK_HEALTH_PORT:-8974}'
export AIRFLOW__OPERATORS__DEFAULT_QUEUE='$QUEUE'
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
export AIRFLOW__LOGGING__BASE_LOG_FOLDER='$AIRFLOW_HOME/logs'
export AIRFLOW__LOGGING__LOGGING_LEVEL=INFO
export AIRFLOW__LOGGING__TRIGGERER_LOG_SERVER_PORT='$((LOG_PORT + 2))'
EOF
}

wanted() { [[ -z "${STACK_SERVICES:-}" || " $STACK_SERVICES " == *" $1 "* ]]; }

pid_of() { [[ -s "$RUN/$1.pid" ]] && cat "$RUN/$1.pid"; }

alive() { local pid; pid="$(pid_of "$1")" && kill -0 "$pid" 2>/dev/null; }

launch() {
    local name="$1"; shift
    wanted "$name" || return 0
    if alive "$name"; then
        log "$name already running (pid $(pid_of "$name"))"
        return
    fi
    # setsid: each service leads its own process group, so stop also ends its children
    # (uvicorn, celery's pool processes, task supervisors).
    setsid "$BIN/airflow" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN/$name.pid"
    log "$name started (pid $!, log $LOGS/$name.log)"
}

wait_for_api() {
    local url="http://127.0.0.1:$PORT/api/v2/monitor/health"
    for _ in $(seq 1 120); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then
            log "api-server answering at http://127.0.0.1:$PORT"
            return 0
        fi
        alive api-server || { log "api-server exited; see $LOGS/api-server.log"; return 1; }
        sleep 1
    done
    log "api-server did not answer within 120 s; see $LOGS/api-server.log"
    return 1
}

start() {
    ensure_services
    mkdir -p "$AIRFLOW_HOME"
    write_env
    # shellcheck disable=SC1090
    source "$ENV_FILE"
    [[ -n "${STACK_AIRFLOW_DB_URL:-}" ]] || ensure_database "$AIRFLOW_DB" "${STACK_FRESH_DB:-0}"
    if [[ "$TIERFLOW_DATABASE_URL" == postgresql://"$PG"/* ]]; then
        ensure_database "${TIERFLOW_DATABASE_URL##*/}"
    fi
    log "migrating the Airflow metadata database $AIRFLOW_DB"
    "$BIN/airflow" db migrate >>"$LOGS/migrate.log" 2>&1 || { log "airflow db migrate failed; see $LOGS/migrate.log"; exit 1; }
    log "migrating the warehouse"
    "$BIN/tierflow" db upgrade >>"$LOGS/migrate.log" 2>&1 || { log "tierflow db upgrade failed; see $LOGS/migrate.log"; exit 1; }

    launch api-server api-server --port "$PORT" --host 127.0.0.1
    launch scheduler scheduler
    launch dag-processor dag-processor
    launch triggerer triggerer
    # Each worker (and the triggerer) serves its task logs on its own port: one machine.
    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$LOG_PORT" \
        launch worker1 celery worker --celery-hostname "worker1@%h" --queues "$QUEUE"
    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$((LOG_PORT + 1))" \
        launch worker2 celery worker --celery-hostname "worker2@%h" --queues "$QUEUE"
    wait_for_api
    log "UI: http://127.0.0.1:$PORT  login: ${STACK_ADMIN_USER:-admin} / ${STACK_ADMIN_PASSWORD:-admin}"
}

# TERM the named services' process groups, then wait up to $1 s for them to leave.
term_and_wait() {
    local seconds="$1" name pid; shift
    for name in "$@"; do
        pid="$(pid_of "$name")" || continue
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for _ in $(seq 1 "$seconds"); do
        local running=0
        for name in "$@"; do alive "$name" && running=1; done
        [[ $running == 0 ]] && return 0
        sleep 1
    done
}

stop() {
    local name pid
    # Everything but the api-server first: Celery's warm shutdown waits for running tasks, whose
    # supervisors report their end through the api-server's execution API (stopped first, they
    # retried against it until the grace ran out: 30 s per stop). 30 s for them, 10 s for it.
    term_and_wait 30 scheduler dag-processor triggerer worker1 worker2
    term_and_wait 10 api-server
    for name in "${SERVICES[@]}"; do
        pid="$(pid_of "$name")" || continue
        # the group may outlive its leader (a task supervisor, a uvicorn worker)
        kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$RUN/$name.pid"
        log "$name stopped"
    done
}

status() {
    local name code=0
    for name in "${SERVICES[@]}"; do
        wanted "$name" || continue
        if alive "$name"; then
            printf '%-14s running  pid %s\n' "$name" "$(pid_of "$name")"
        else
            printf '%-14s stopped\n' "$name"
            code=3
        fi
    done
    return $code
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
