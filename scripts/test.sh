#!/usr/bin/env bash
# THE test command: ./scripts/test.sh [pytest args...]
# Tests run against real PostgreSQL and Redis; this starts them when they are not running.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/_venv.sh

wait_until() {  # wait_until DESCRIPTION COMMAND...: up to 30 s
    local what=$1
    shift
    for _ in $(seq 1 60); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    echo "$what did not become ready" >&2
    return 1
}

if ! pg_isready -q -h 127.0.0.1; then
    pg_version="$(ls /etc/postgresql | sort -V | tail -n1)"
    echo "Starting PostgreSQL $pg_version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
    wait_until PostgreSQL pg_isready -q -h 127.0.0.1
fi

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    echo "Starting Redis" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    wait_until Redis redis-cli -h 127.0.0.1 ping
fi

# The browser tests (evpower/tests/browser) drive Debian's headless Chromium; on a fresh
# machine, as root, install it. If that fails (offline, say) those tests skip and say why.
if { [[ ! -x /usr/bin/chromium ]] || [[ ! -x /usr/bin/chromedriver ]]; } \
        && [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing chromium and chromium-driver for the browser tests" >&2
    if ! { timeout 120 apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
                --no-install-recommends chromium chromium-driver; } >/dev/null 2>&1; then
        echo "Could not install chromium; the browser tests will be skipped" >&2
    fi
fi

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"

exec .venv/bin/python -m pytest "$@"
