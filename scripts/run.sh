#!/usr/bin/env bash
# THE run command: migrate, seed a demo station, serve on uvicorn and connect a simulated charger.
# Needs no services: without DATABASE_URL/REDIS_URL it uses SQLite and the in-memory layer.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/_venv.sh
PY=.venv/bin/python

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
# Bound to every interface: talk to it over loopback.
case "$HOST" in 0.0.0.0 | "::") LOCAL="127.0.0.1" ;; *) LOCAL="$HOST" ;; esac
BASE_URL="http://$LOCAL:$PORT"

"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo

server_pid=""
charger_pid=""
cleanup() {
    trap - EXIT INT TERM
    for pid in $charger_pid $server_pid; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
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

# The simulator may stop (e.g. the station is reset); the server keeps running regardless.
"$PY" manage.py simulate_charger DEMO-001 --password demo-password-0001 \
    --url "ws://$LOCAL:$PORT/ocpp/DEMO-001" &
charger_pid=$!

cat <<INFO

  EvPower is running at $BASE_URL
  Admin:    $BASE_URL/admin/   user admin / password admin (created by seed_demo when DEBUG is on)
  Charger:  DEMO-001 (password demo-password-0001) connected as ws://$LOCAL:$PORT/ocpp/DEMO-001
  Stop with Ctrl-C.

INFO

wait "$server_pid"
