#!/usr/bin/env bash
# THE run command: migrate, seed the demo, serve on uvicorn and connect a simulated charger.
# Needs no services: without DATABASE_URL it uses SQLite; without a Redis it runs on the
# in-memory channel layer, in one process. A Redis answering on 127.0.0.1:6379 is used
# (database 1), so that commands from other shells reach the demo charger and a Celery
# worker runs the clockwork. The payment sandbox is on (PAYMENT_SANDBOX=false to turn it off).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/_venv.sh
PY=.venv/bin/python

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
# Bound to every interface: talk to it over loopback.
case "$HOST" in 0.0.0.0 | "::") LOCAL="127.0.0.1" ;; *) LOCAL="$HOST" ;; esac
BASE_URL="http://$LOCAL:$PORT"

# What the running demo decided, for manage.py in other shells (evpower/settings.py reads
# it in development), its worker's log and the simulated charger's memory.
RUN_DIR=.run
DEMO_ENV="$RUN_DIR/demo.env"
CHARGER_STATE="$RUN_DIR/charger-DEMO-001.json"
mkdir -p "$RUN_DIR"
rm -f "$DEMO_ENV"  # a stale one from a demo that was killed: decided afresh below

if [[ -z "${DATABASE_URL:-}" && ! -f db.sqlite3 ]]; then
    # a new database: the transactions the simulated charger remembers belong to the old one
    rm -f "$CHARGER_STATE"
fi

redis_answers() {
    "$PY" -c "import redis, sys; redis.Redis.from_url(sys.argv[1], socket_timeout=1,
socket_connect_timeout=1).ping()" "$1" >/dev/null 2>&1
}

REDIS_NOTE=""
if [[ -z "${REDIS_URL:-}" ]] && redis_answers "redis://127.0.0.1:6379/1"; then
    export REDIS_URL="redis://127.0.0.1:6379/1"
fi
if [[ -z "${REDIS_URL:-}" ]]; then
    REDIS_NOTE="
  Redis:    not running on 127.0.0.1:6379, so everything runs in this one process on the
            in-memory channel layer. Needs Redis: commands from another shell reaching the
            charger (manage.py ocpp_command, station_reset...: they answer 'unreachable'),
            the Celery worker and beat (push messages, the clockwork's sweeps), and limits
            counted across processes. Start redis-server and run this again to have them."
fi

export PAYMENT_SANDBOX="${PAYMENT_SANDBOX:-true}"
export PAYMENT_SANDBOX_URL="${PAYMENT_SANDBOX_URL:-$BASE_URL}"

{
    echo "# Written by scripts/run.sh while the demo runs, deleted when it stops: manage.py in"
    echo "# another shell reads it (development only) to reach the same charger and services."
    if [[ -n "${REDIS_URL:-}" ]]; then echo "REDIS_URL=$REDIS_URL"; fi
    if [[ -n "${DATABASE_URL:-}" ]]; then echo "DATABASE_URL=$DATABASE_URL"; fi
    echo "PAYMENT_SANDBOX=$PAYMENT_SANDBOX"
    echo "PAYMENT_SANDBOX_URL=$PAYMENT_SANDBOX_URL"
} > "$DEMO_ENV.tmp"
chmod 600 "$DEMO_ENV.tmp"  # a DATABASE_URL may carry a password
mv "$DEMO_ENV.tmp" "$DEMO_ENV"

"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo

# Each background process in a process group of its own (job control): Ctrl-C reaches this
# script only, which then stops them in order — the charger first, so that it can still end
# its transactions with the server, then the worker, then the server.
set -m
server_pid=""
charger_pid=""
worker_pid=""
stop_and_wait() {  # stop_and_wait PID SECONDS: SIGTERM, then SIGKILL after SECONDS
    local pid=$1 waited=0
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && ((waited < $2 * 10)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    # a second TERM or Ctrl-C (timeout(1) signals its whole group again, supervisors
    # repeat) must not cut the cleanup short and leave the server and worker running:
    # each stop below is bounded anyway
    trap - EXIT
    trap '' INT TERM
    stop_and_wait "$charger_pid" 12
    stop_and_wait "$worker_pid" 15
    stop_and_wait "$server_pid" 40
    rm -f "$DEMO_ENV"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$PY" -m evpower.serve evpower.asgi:application --host "$HOST" --port "$PORT" &
server_pid=$!

ready=""
for _ in $(seq 1 60); do
    # Checking the pid too: another program already on the port would answer the probe.
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "The server exited during start-up (is port $PORT in use?)" >&2
        exit 1
    fi
    if "$PY" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "$BASE_URL/health/live" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.5
done
if [[ -z "$ready" ]]; then
    echo "The server did not answer $BASE_URL/health/live within 30 s" >&2
    exit 1
fi

WORKER_NOTE=""
if [[ -n "${REDIS_URL:-}" ]]; then
    # One process runs the tasks and the beat schedule (--beat): fine for one laptop.
    "$PY" -m celery -A evpower worker --beat --pool solo --loglevel INFO \
        >"$RUN_DIR/worker.log" 2>&1 &
    worker_pid=$!
    WORKER_NOTE="
  Celery:   a worker with beat (the clockwork), logging to $RUN_DIR/worker.log
  Redis:    $REDIS_URL (channel layer, cache, broker): manage.py in another shell reaches
            the charger, e.g. python manage.py ocpp_command DEMO-001 GetConfiguration --json '{}'"
fi

# The simulator charges its own card on connector 1 and leaves connector 2 to the app; it
# remembers open transactions in CHARGER_STATE, so after a restart an interrupted one ends
# (PowerLoss) instead of charging forever. It may stop (a Reset); the server runs on.
# DEMO_OCPP=2.0.1 ./scripts/run.sh: the same charger speaking OCPP 2.0.1
"$PY" manage.py simulate_charger DEMO-001 --password demo-password-0001 \
    --url "ws://$LOCAL:$PORT/ocpp/DEMO-001" --state-file "$CHARGER_STATE" \
    --ocpp "${DEMO_OCPP:-1.6}" &
charger_pid=$!

SANDBOX_NOTE=""
if [[ "$PAYMENT_SANDBOX" == "true" ]]; then
    SANDBOX_NOTE="
  Payments: the sandbox plays O!Dengi, Payme and Click: a top-up's payment_url is a page
            here with Pay and Decline buttons (PAYMENT_SANDBOX=false to turn it off)"
fi

cat <<INFO

  EvPower is running at $BASE_URL
  Admin:    $BASE_URL/admin/   user admin / password admin (created by seed_demo when DEBUG is on)
  API:      $BASE_URL/api/docs/   demo driver +996700000001 (log in by code: it is printed
            in this terminal), 1000.00 som; README "Try it in five minutes" walks through it
  Charger:  DEMO-001 (password demo-password-0001) as ws://$LOCAL:$PORT/ocpp/DEMO-001:
            charges its own card on connector 1, connector 2 is free for the app$SANDBOX_NOTE$WORKER_NOTE$REDIS_NOTE
  Stop with Ctrl-C.

INFO

wait "$server_pid"
