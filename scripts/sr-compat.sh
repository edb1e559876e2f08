#!/usr/bin/env bash
# Schema Registry interop: Confluent's own Python clients (confluent-kafka's
# SchemaRegistryClient with its Avro, JSON Schema and Protobuf serdes, from
# PyPI, in a venv) drive the debug `sluice server` on the embedded broker
# and its embedded Schema Registry (scripts/sr_compat.py: produce with the
# Confluent serializers, CREATE STREAM with inferred columns, CREATE STREAM
# AS SELECT, consume with the Confluent deserializers). Then the AVRO round
# trip again with sluice using an external registry, rivven-schema (a
# crate: `cargo install rivven-schema --locked`), when it is installed.
#
# SLUICE_BIN picks the sluice binary (default: target/debug/sluice, built
# here when SLUICE_BIN is unset).
set -euo pipefail
cd "$(dirname "$0")/.."

CONFLUENT_KAFKA_VERSION=2.16.2
# Only for its protoc (a wheel): sr_compat.py compiles .proto text at run
# time to get the message classes the Protobuf serdes need.
GRPCIO_TOOLS_VERSION=1.85.4
venv=target/sr-compat-venv
bin=${SLUICE_BIN:-target/debug/sluice}
skipped_file=${SLUICE_SKIPPED_FILE:-/dev/null}

if ! command -v python3 >/dev/null 2>&1; then
  echo "sr-compat: FAILED: python3 is not installed; it is needed to run Confluent's Python clients" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import confluent_kafka.schema_registry.protobuf, fastavro, jsonschema, grpc_tools' >/dev/null 2>&1; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    echo "sr-compat: FAILED: cannot create a Python venv with pip (python3 -m venv; on Debian: apt-get install python3-venv python3-pip), so confluent-kafka cannot be installed" >&2
    exit 1
  fi
  if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "sr-compat: FAILED: pip is unavailable in the venv, so confluent-kafka cannot be installed" >&2
    exit 1
  fi
  echo "== installing Confluent's Python clients: confluent-kafka[schemaregistry,avro,protobuf,json]==$CONFLUENT_KAFKA_VERSION, grpcio-tools==$GRPCIO_TOOLS_VERSION"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "confluent-kafka[schemaregistry,avro,protobuf,json]==$CONFLUENT_KAFKA_VERSION" \
    "grpcio-tools==$GRPCIO_TOOLS_VERSION"; then
    echo "sr-compat: FAILED: pip could not install confluent-kafka==$CONFLUENT_KAFKA_VERSION and grpcio-tools==$GRPCIO_TOOLS_VERSION" >&2
    exit 1
  fi
fi

if [ -z "${SLUICE_BIN:-}" ]; then
  cargo build --quiet --bin sluice
fi

scratch=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$scratch"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits up to 30 s until every URL answers and LOG holds LINE (unless
# empty), while PID lives: wait_up WHAT PID LOG LINE URL...
wait_up() {
  local what=$1 pid=$2 log=$3 line=$4
  shift 4
  for _ in $(seq 1 300); do
    if { [ -z "$line" ] || grep -qF "$line" "$log"; } && python3 -c '
import sys, urllib.request as u
for url in sys.argv[1:]:
    u.urlopen(url, timeout=1)' "$@" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "sr-compat: FAILED: $what did not answer on $* within 30 s (or its log lacks \"$line\"); its log:" >&2
  cat "$log" >&2
  exit 1
}

# Runs sr_compat.py; on failure prints the server's log and exits:
# run_checks SERVER_LOG KSQL_URL REGISTRY_URL [ARGS...]
run_checks() {
  local log=$1
  shift
  if ! timeout 300 "$venv/bin/python" scripts/sr_compat.py "$@"; then
    echo "sr-compat: FAILED; the server's log:" >&2
    cat "$log" >&2
    exit 1
  fi
}

# 1. sluice's embedded registry.
port=$(free_port)
sr_port=$(free_port)
url="http://127.0.0.1:$port"
sr_url="http://127.0.0.1:$sr_port"
echo "== starting sluice server on $url (embedded broker, Schema Registry on $sr_url)"
env -u SLUICE_SCHEMA_REGISTRY -u SLUICE_BOOTSTRAP_SERVERS \
  "$bin" server --listen "127.0.0.1:$port" --schema-registry-listen "127.0.0.1:$sr_port" \
  >"$scratch/server.log" 2>&1 &
pids+=($!)
wait_up "sluice server" "${pids[-1]}" "$scratch/server.log" "Schema Registry: $sr_url" "$url/info" "$sr_url/subjects"
echo "== running Confluent's Python clients against sluice server and its Schema Registry"
run_checks "$scratch/server.log" "$url" "$sr_url"

# 2. A separate broker process: Tansu, when scripts/test.sh runs one
# (SLUICE_TANSU_BOOTSTRAP); the registry then keeps its schemas in the
# broker's `_schemas` topic. Topics and the service id are unique per run.
if [ -n "${SLUICE_TANSU_BOOTSTRAP:-}" ]; then
  port=$(free_port)
  sr_port=$(free_port)
  url="http://127.0.0.1:$port"
  sr_url="http://127.0.0.1:$sr_port"
  echo "== starting sluice server on $url (Tansu at $SLUICE_TANSU_BOOTSTRAP, Schema Registry on $sr_url)"
  env -u SLUICE_SCHEMA_REGISTRY \
    "$bin" server --bootstrap-servers "$SLUICE_TANSU_BOOTSTRAP" --service-id "sr_compat_$$_" \
    --listen "127.0.0.1:$port" --schema-registry-listen "127.0.0.1:$sr_port" \
    >"$scratch/server-tansu.log" 2>&1 &
  pids+=($!)
  wait_up "sluice server" "${pids[-1]}" "$scratch/server-tansu.log" "Schema Registry: $sr_url" "$url/info" "$sr_url/subjects"
  echo "== running Confluent's Python clients against sluice server on Tansu"
  run_checks "$scratch/server-tansu.log" "$url" "$sr_url" --registry-name Tansu \
    --suffix "_$$" --create-topics
else
  echo "SKIPPED: sr-compat through a separate broker: SLUICE_TANSU_BOOTSTRAP is not set (scripts/test.sh sets it)" | tee -a "$skipped_file"
fi

# 3. An external registry: rivven-schema, a second implementation of
# Confluent's REST API, with sluice as its client. AVRO only: rivven-schema
# 0.0.22 refuses the base64 descriptors Confluent's ProtobufSerializer
# registers ("must define at least one message"), and it normalizes JSON
# Schemas, dropping the Connect annotations (`connect.type`) that make an
# integer an INT rather than a BIGINT.
if ! command -v rivven-schema >/dev/null 2>&1; then
  echo "SKIPPED: external registry: rivven-schema not installed" | tee -a "$skipped_file"
  exit 0
fi
rivven_port=$(free_port)
rivven_url="http://127.0.0.1:$rivven_port"
echo "== starting rivven-schema on $rivven_url"
rivven-schema serve --host 127.0.0.1 --port "$rivven_port" >"$scratch/rivven.log" 2>&1 &
pids+=($!)
wait_up "rivven-schema" "${pids[-1]}" "$scratch/rivven.log" "" "$rivven_url/subjects"
port=$(free_port)
url="http://127.0.0.1:$port"
echo "== starting sluice server on $url (embedded broker, Schema Registry $rivven_url)"
env -u SLUICE_BOOTSTRAP_SERVERS \
  "$bin" server --listen "127.0.0.1:$port" --schema-registry "$rivven_url" \
  >"$scratch/server-external.log" 2>&1 &
pids+=($!)
wait_up "sluice server" "${pids[-1]}" "$scratch/server-external.log" "Schema Registry: $rivven_url (external)" "$url/info"
echo "== running Confluent's Python clients against sluice server and rivven-schema"
run_checks "$scratch/server-external.log" "$url" "$rivven_url" --registry-name rivven-schema AVRO
