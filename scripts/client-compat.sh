#!/usr/bin/env bash
# Client compatibility: ksqlDB client libraries nobody here wrote drive the
# debug `sluice server` on the embedded broker. The Python package `ksqldb`
# (from PyPI, in a venv): list streams, create a stream, insert rows,
# stream push queries (scripts/client_compat.py). The npm package
# `ksqldb-client`: the same, plus a pull query on an aggregation
# (scripts/client_compat_npm.js).
#
# Why `ksqldb` and not `ksql` (ksql-python 0.10.2): `ksql` cannot even be
# imported on Python >= 3.10, because its dependency `hyper` imports
# `collections.Iterable`. `ksqldb` speaks /ksql, /query-stream (HTTP/2
# cleartext), /inserts-stream and /close-query.
set -euo pipefail
cd "$(dirname "$0")/.."

KSQLDB_VERSION=1.0.1
NPM_CLIENT_VERSION=1.0.5
venv=target/client-compat-venv
bin=target/debug/sluice

if ! command -v python3 >/dev/null 2>&1; then
  echo "client-compat: FAILED: python3 is not installed; it is needed to run the ksqldb client" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import ksqldb' >/dev/null 2>&1; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    echo "client-compat: FAILED: cannot create a Python venv with pip (python3 -m venv; on Debian: apt-get install python3-venv python3-pip), so the ksqldb client cannot be installed" >&2
    exit 1
  fi
  if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    echo "client-compat: FAILED: pip is unavailable in the venv, so the ksqldb client cannot be installed" >&2
    exit 1
  fi
  echo "== installing the Python ksqlDB client: ksqldb==$KSQLDB_VERSION"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "ksqldb==$KSQLDB_VERSION"; then
    echo "client-compat: FAILED: pip could not install ksqldb==$KSQLDB_VERSION" >&2
    exit 1
  fi
fi

cargo build --quiet --bin sluice

scratch=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
echo "== starting sluice server on $url (embedded broker)"
"$bin" server --listen "127.0.0.1:$port" >"$scratch/server.log" 2>&1 &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

up=no
for _ in $(seq 1 300); do
  if python3 -c "import urllib.request as u; u.urlopen('$url/info', timeout=1)" >/dev/null 2>&1; then
    up=yes
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ "$up" != yes ]; then
  echo "client-compat: FAILED: sluice server did not answer on $url within 30 s; its log:" >&2
  cat "$scratch/server.log" >&2
  exit 1
fi

echo "== running the ksqldb client against sluice server"
if ! timeout 120 "$venv/bin/python" scripts/client_compat.py "$url"; then
  echo "client-compat: FAILED; the server's log:" >&2
  cat "$scratch/server.log" >&2
  exit 1
fi

# The npm client `ksqldb-client`, installed from the registry.
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "client-compat: FAILED: node and npm are needed for the npm client ksqldb-client" >&2
  exit 1
fi
npm_dir=target/client-compat-npm
if [ ! -d "$npm_dir/node_modules/ksqldb-client" ]; then
  echo "== installing the npm ksqlDB client: ksqldb-client@$NPM_CLIENT_VERSION"
  mkdir -p "$npm_dir"
  if ! (cd "$npm_dir" && npm install --silent --no-audit --no-fund "ksqldb-client@$NPM_CLIENT_VERSION" >/dev/null); then
    echo "client-compat: FAILED: npm could not install ksqldb-client@$NPM_CLIENT_VERSION" >&2
    exit 1
  fi
fi
echo "== running the npm client ksqldb-client against sluice server"
if ! NODE_PATH="$npm_dir/node_modules" timeout 120 node scripts/client_compat_npm.js "$port"; then
  echo "client-compat: FAILED (npm client); the server's log:" >&2
  cat "$scratch/server.log" >&2
  exit 1
fi

# The server shuts down cleanly on SIGTERM.
kill -TERM "$server_pid"
for _ in $(seq 1 150); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  echo "client-compat: FAILED: sluice server did not exit within 15 s of SIGTERM" >&2
  exit 1
fi
grep -q "shutting down" "$scratch/server.log" || {
  echo "client-compat: FAILED: the server did not report its shutdown; its log:" >&2
  cat "$scratch/server.log" >&2
  exit 1
}
