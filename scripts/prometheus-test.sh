#!/usr/bin/env bash
# Metrics end to end: a real Prometheus (Debian's package, installed when
# missing) scrapes `sluice server`'s /metrics, with HTTP Basic credentials,
# while a persistent query runs; the test reads the query's record count
# back through Prometheus's own query API.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian's prometheus (the metrics test)"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "prometheus-test: FAILED: prometheus is not installed and this user cannot install it" >&2
    exit 1
  fi
fi

bin=target/debug/sluice
scratch=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
prom_port=$(free_port)
url="http://127.0.0.1:$port"

printf 'scraper: scrape-secret\n' >"$scratch/users"
cat >"$scratch/server.properties" <<PROPS
listeners=$url
authentication.method=BASIC
authentication.basic.users=$scratch/users
PROPS
"$bin" server --config "$scratch/server.properties" --schema-registry-listen off \
  >"$scratch/server.log" 2>&1 &
server_pid=$!
prom_pid=
cleanup() {
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null || true
  kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
fail() {
  echo "prometheus-test: FAILED: $*" >&2
  echo "sluice's log:" >&2; tail -50 "$scratch/server.log" >&2
  [ -f "$scratch/prometheus.log" ] && { echo "prometheus's log:" >&2; tail -30 "$scratch/prometheus.log" >&2; }
  exit 1
}
for _ in $(seq 1 300); do
  curl -s -o /dev/null -u scraper:scrape-secret "$url/info" && break
  kill -0 "$server_pid" 2>/dev/null || fail "sluice server exited"
  sleep 0.1
done

ksql() {
  curl -s -u scraper:scrape-secret "$url/ksql" -H 'content-type: application/json' \
    -d "{\"ksql\": \"$1\", \"streamsProperties\": {\"auto.offset.reset\": \"earliest\"}}" >/dev/null
}
ksql "CREATE STREAM metered (id INT KEY, amount INT) WITH (kafka_topic='metered', value_format='json', partitions=2);"
ksql "CREATE TABLE metered_totals AS SELECT id, SUM(amount) AS total FROM metered GROUP BY id;"
for i in $(seq 1 25); do
  ksql "INSERT INTO metered (id, amount) VALUES ($((i % 5)), $i);"
done

cat >"$scratch/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: sluice
    metrics_path: /metrics
    basic_auth:
      username: scraper
      password: scrape-secret
    static_configs:
      - targets: ["127.0.0.1:$port"]
YML
echo "== starting Prometheus on 127.0.0.1:$prom_port, scraping $url/metrics every second"
prometheus --config.file="$scratch/prometheus.yml" --storage.tsdb.path="$scratch/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$scratch/prometheus.log" 2>&1 &
prom_pid=$!

# The query's records in, as Prometheus stored them.
query() {
  curl -s -G "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" 2>/dev/null || true
}
value_of() {
  python3 -c 'import json,sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "")
except Exception:
    print("")'
}
got=""
for _ in $(seq 1 600); do
  got=$(query 'sum(sluice_query_records_in_total{query_id=~"CTAS_METERED_TOTALS.*"})' | value_of)
  [ "$got" = "25" ] && break
  kill -0 "$prom_pid" 2>/dev/null || fail "prometheus exited"
  sleep 0.1
done
[ "$got" = "25" ] || fail "Prometheus's value of sluice_query_records_in_total is '$got', expected 25"
up=$(query 'up{job="sluice"}' | value_of)
[ "$up" = "1" ] || fail "up{job=\"sluice\"} is '$up'"
rows=$(query 'sluice_query_state_rows' | value_of)
[ "$rows" = "5" ] || fail "sluice_query_state_rows is '$rows', expected 5 keys"
health=$(curl -s -u scraper:scrape-secret "$url/healthcheck")
python3 -c 'import json,sys
h = json.loads(sys.argv[1])
d = h["details"]
assert h["isHealthy"] is True, h
assert d["kafka"]["isHealthy"] and d["queries"]["isHealthy"], h
assert d["queries"]["running"] == 1 and d["queries"]["erroring"] == [], h' "$health" \
  || fail "/healthcheck: $health"
echo "ok healthcheck: $health"
echo "ok prometheus: scraped with Basic credentials; read back sluice_query_records_in_total = 25, sluice_query_state_rows = 5, up = 1"
