#!/usr/bin/env bash
# sluice's test command: formatting, then every test (unit, sql-tests,
# end-to-end against the embedded broker and against a Tansu broker
# process). Installs Tansu when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --check

if ! pkg-config --exists openssl 2>/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== installing libssl-dev and pkg-config (librdkafka's TLS and SCRAM are built with OpenSSL)"
  apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config
fi

if ! command -v tmux >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing tmux (the shell is tested in a pseudo-terminal)"
  (apt-get update -qq && apt-get install -y -qq tmux) || echo "could not install tmux; the terminal test will say SKIPPED"
fi

if ! command -v tansu >/dev/null 2>&1; then
  echo "== installing Tansu (a Kafka-compatible broker) for the end-to-end tests"
  cargo install tansu --features dynostore,libsql --locked || cargo install tansu --features dynostore,libsql
fi

if ! command -v rivven-schema >/dev/null 2>&1; then
  echo "== installing rivven-schema (a Confluent-compatible Schema Registry, the external registry of scripts/sr-compat.sh)"
  cargo install rivven-schema --locked || echo "could not install rivven-schema; the external-registry check will say SKIPPED"
fi

echo "== building"
cargo build --all-targets

scratch=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "== starting Tansu on 127.0.0.1:$port (sqlite storage in $scratch)"
(cd "$scratch" && exec tansu broker \
  --listener-url "tcp://127.0.0.1:$port" \
  --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine "sqlite://tansu.db" >"$scratch/tansu.log" 2>&1) &
tansu_pid=$!
# Tests that cannot run their real check (a missing broker or tool) append
# a line here; the list is printed at the end, so a skip never reads as a
# pass.
export SLUICE_SKIPPED_FILE="$scratch/skipped.txt"
: > "$SLUICE_SKIPPED_FILE"
print_skipped() {
  if [ -s "$SLUICE_SKIPPED_FILE" ]; then
    echo "== SKIPPED checks (not passes):"
    cat "$SLUICE_SKIPPED_FILE"
  fi
}
trap 'print_skipped; kill $tansu_pid 2>/dev/null || true; rm -rf "$scratch"' EXIT
up=no
for _ in $(seq 1 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=yes; break; fi
  sleep 0.1
done
if [ "$up" != yes ]; then
  echo "Tansu did not start listening on 127.0.0.1:$port within 30 s; its log:" >&2
  cat "$scratch/tansu.log" >&2
  exit 1
fi
export SLUICE_TANSU_BOOTSTRAP="127.0.0.1:$port"
export SLUICE_TANSU_DIR="$scratch"

echo "== cargo test"
# Lines tests report (the durability tests: input, output, lost,
# duplicates, wrong groups) are printed after the run.
export SLUICE_REPORT_FILE="$scratch/reported.txt"
: > "$SLUICE_REPORT_FILE"
cargo test --all-targets -- --test-threads=2
echo "== reported by the tests"
cat "$SLUICE_REPORT_FILE"

# Runs `sluice test DIR` and fails when fewer cases pass than the baseline
# file says: check_conformance TITLE DIR BASELINE_FILE
check_conformance() {
  local title=$1 dir=$2 baseline_file=$3
  local baseline out status summary passed
  echo "== $title"
  baseline=$(tr -dc '0-9' < "$baseline_file")
  if [ ! -d "$dir" ]; then
    echo "SKIPPED: $dir not found (the baseline of $baseline passing cases was not checked)" | tee -a "$SLUICE_SKIPPED_FILE"
    return 0
  fi
  out=$(mktemp)
  set +e
  ./target/debug/sluice test "$dir" >"$out" 2>&1
  status=$?
  set -e
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out" | tail -1 || true)
  if [ "$status" -gt 1 ] || [ -z "$summary" ]; then
    echo "the run of $dir did not complete (exit status $status); its last lines:" >&2
    tail -20 "$out" >&2
    rm -f "$out"
    exit 1
  fi
  rm -f "$out"
  passed=${summary%% passed*}
  echo "conformance of $dir: $passed cases pass (baseline $baseline; full line: $summary)"
  if [ "$passed" -lt "$baseline" ]; then
    echo "conformance dropped: $passed cases pass, below the baseline of $baseline in $baseline_file" >&2
    exit 1
  fi
  if [ "$passed" -gt "$baseline" ]; then
    echo "conformance rose above the baseline: raise $baseline_file to $passed (and regenerate CONFORMANCE.md)"
  fi
}

check_conformance "ksqlDB conformance (QTT suite in ../shared/qtt)" \
  ../shared/qtt sql-tests/conformance-baseline.txt
check_conformance "ksqlDB REST-level conformance (RQTT cases in ../shared/qtt/rest, through the REST API)" \
  ../shared/qtt/rest sql-tests/rest-baseline.txt

echo "== Nexmark: generator and benchmark with a tiny N (debug build: proves they run; figures are not representative)"
./target/debug/sluice nexmark generate --events 20000
./target/debug/sluice bench nexmark --query q0,q1,q2,w1 --events 20000
./target/debug/sluice bench nexmark --query q0,q1,q2,q7,q17,w1,w2,g1 --events 20000 --source memory
./target/debug/sluice bench restore --records 20000 --runs 1
./target/debug/sluice bench formats --events 20000 --runs 1
./target/debug/sluice bench push --queries 10,50 --records 10 --rate 20
./target/debug/sluice bench pull --keys 20000 --clients 4 --seconds 2

echo "== client compatibility: the ksqlDB clients ksqldb (Python) and ksqldb-client (npm) against sluice server"
./scripts/client-compat.sh

echo "== REST security: HTTPS and HTTP Basic authentication with curl, the ksqldb client and the shell"
./scripts/rest-security.sh

echo "== metrics: a real Prometheus scrapes sluice server and the test reads a metric back through its query API"
./scripts/prometheus-test.sh

echo "== Schema Registry compatibility: Confluent's Python serdes (confluent-kafka, AVRO, JSON_SR, PROTOBUF) against sluice server and its registry"
./scripts/sr-compat.sh

echo "== web console in headless Chromium"
./scripts/web-test.sh
