#!/usr/bin/env bash
# sluice's test command: formatting, then every test (unit, sql-tests,
# end-to-end against the embedded broker and against a Tansu broker
# process). Installs Tansu when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --check

if ! command -v tmux >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing tmux (the shell is tested in a pseudo-terminal)"
  (apt-get update -qq && apt-get install -y -qq tmux) || echo "could not install tmux; the terminal test will say SKIPPED"
fi

if ! command -v tansu >/dev/null 2>&1; then
  echo "== installing Tansu (a Kafka-compatible broker) for the end-to-end tests"
  cargo install tansu --features dynostore,libsql --locked || cargo install tansu --features dynostore,libsql
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
trap 'kill $tansu_pid 2>/dev/null || true; rm -rf "$scratch"' EXIT
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
cargo test --all-targets -- --test-threads=2

echo "== ksqlDB conformance (QTT suite in ../shared/qtt)"
qtt_dir="../shared/qtt"
baseline=$(tr -dc '0-9' < sql-tests/conformance-baseline.txt)
if [ ! -d "$qtt_dir" ]; then
  echo "SKIPPED: $qtt_dir not found (the conformance baseline of $baseline passing cases was not checked)"
else
  qtt_out=$(mktemp)
  set +e
  ./target/debug/sluice test "$qtt_dir" >"$qtt_out" 2>&1
  qtt_status=$?
  set -e
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$qtt_out" | tail -1 || true)
  if [ "$qtt_status" -gt 1 ] || [ -z "$summary" ]; then
    echo "the QTT run did not complete (exit status $qtt_status); its last lines:" >&2
    tail -20 "$qtt_out" >&2
    rm -f "$qtt_out"
    exit 1
  fi
  rm -f "$qtt_out"
  passed=${summary%% passed*}
  echo "$summary (baseline: $baseline passing)"
  if [ "$passed" -lt "$baseline" ]; then
    echo "conformance dropped: $passed cases pass, below the baseline of $baseline in sql-tests/conformance-baseline.txt" >&2
    exit 1
  fi
  if [ "$passed" -gt "$baseline" ]; then
    echo "conformance rose above the baseline: raise sql-tests/conformance-baseline.txt to $passed (and regenerate CONFORMANCE.md)"
  fi
fi

echo "== Nexmark: generator and benchmark with a tiny N (debug build: proves they run; figures are not representative)"
./target/debug/sluice nexmark generate --events 20000
./target/debug/sluice bench nexmark --query q0,q1,q2 --events 20000
./target/debug/sluice bench nexmark --query q0,q1,q2 --events 20000 --source memory

echo "== client compatibility: the Python ksqlDB client 'ksqldb' against sluice server"
./scripts/client-compat.sh

echo "== web console in headless Chromium"
./scripts/web-test.sh
