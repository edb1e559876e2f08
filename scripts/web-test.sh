#!/usr/bin/env bash
# Tests the web console in a real headless Chromium (Debian's package,
# driven by playwright-core from npm), against `sluice server` with the
# embedded broker. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian's chromium for the web console test"
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "FAILED: chromium is not installed and this user cannot install it" >&2
    exit 1
  fi
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "FAILED: npm is needed for playwright-core" >&2
  exit 1
fi
tools=target/web-test
mkdir -p "$tools"
if [ ! -d "$tools/node_modules/playwright-core" ]; then
  echo "== installing playwright-core"
  (cd "$tools" && npm install --silent --no-audit --no-fund playwright-core@1 >/dev/null)
fi
cp web/test/console.mjs "$tools/console.mjs"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/debug/sluice server --listen "127.0.0.1:$port" >"$tools/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
node "$tools/console.mjs" "http://127.0.0.1:$port/" "$tools/console.png"
# The screenshots, kept where CI keeps artifacts.
mkdir -p target/artifacts
cp "$tools/console.png" "$tools/console-monitor.png" target/artifacts/
echo "screenshots: target/artifacts/console.png, target/artifacts/console-monitor.png"
