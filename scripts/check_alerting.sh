#!/usr/bin/env bash
# The alerting configuration, checked with the tools Prometheus and Alertmanager ship:
# the rules' syntax and their unit tests (promtool), Prometheus's and Alertmanager's
# configuration, and where Alertmanager routes the alerts that matter most (amtool).
# Installs Debian's prometheus and prometheus-alertmanager when the tools are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing prometheus and prometheus-alertmanager (promtool, amtool)" >&2
        timeout 120 apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq \
            --no-install-recommends prometheus prometheus-alertmanager >/dev/null
    else
        echo "promtool and amtool are needed (Debian: prometheus, prometheus-alertmanager)" >&2
        exit 1
    fi
fi

promtool check rules deploy/prometheus/rules/*.rules.yml
promtool test rules deploy/prometheus/tests/*.test.yml
promtool check config --syntax-only deploy/prometheus/prometheus.yml
amtool check-config deploy/alertmanager/alertmanager.yml

routes() {  # routes EXPECTED LABEL=VALUE...: Alertmanager sends such an alert to EXPECTED
    local expected=$1
    shift
    amtool config routes test --config.file=deploy/alertmanager/alertmanager.yml \
        --verify.receivers="$expected" "$@" 2>/dev/null >/dev/null \
        || { echo "alertmanager: $* should go to $expected" >&2; return 1; }
}
routes "on-call-direct,evpower" alertname=EvPowerDown severity=critical
routes "on-call-direct,evpower" alertname=EvPowerDatabaseUnreachable severity=critical
routes evpower alertname=EvPowerRedisUnreachable severity=critical
routes evpower alertname=EvPowerApiSlow severity=high
routes evpower alertname=EvPowerRateLimitSpike severity=medium
echo "alerting configuration: OK"
