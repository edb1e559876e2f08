#!/usr/bin/env bash
# REST security end to end: `sluice server --config FILE` with an https://
# listener (a certificate signed by a throw-away CA made here with openssl)
# and HTTP Basic authentication (a users file in the realm layout). Checked
# with curl (401 on every route without or with wrong credentials, 200 with
# them, 413 for an oversized body, 400 for an oversized statement, no
# plaintext HTTP on the TLS port), with the Python client `ksqldb` (its
# credentials in the URL: the client's own api_key argument is broken in
# 1.0.1), and with `sluice shell --server https://… --user --password`.
# Uses the venv scripts/client-compat.sh made.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/client-compat-venv
bin=target/debug/sluice
for tool in curl openssl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      echo "== installing $tool (REST security test)"
      apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null
    else
      echo "rest-security: FAILED: $tool is not installed and this user cannot install it" >&2
      exit 1
    fi
  fi
done
if [ ! -x "$venv/bin/python" ]; then
  echo "rest-security: FAILED: the venv of scripts/client-compat.sh is missing; run it first" >&2
  exit 1
fi

scratch=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="https://localhost:$port"
sr_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# A throw-away CA and a server certificate it signed.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sluice test CA" \
  -keyout "$scratch/ca.key" -out "$scratch/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$scratch/server.key" -out "$scratch/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$scratch/san.ext"
openssl x509 -req -in "$scratch/server.csr" -CA "$scratch/ca.pem" -CAkey "$scratch/ca.key" \
  -CAcreateserial -days 2 -extfile "$scratch/san.ext" -out "$scratch/server.pem" 2>/dev/null

cat >"$scratch/users" <<USERS
# user: password[, role …]
alice: wonderland, admin
bob: MD5:$(printf 'builder' | md5sum | cut -d' ' -f1)
USERS
cat >"$scratch/server.properties" <<PROPS
listeners=https://127.0.0.1:$port
ssl.certificate.location=$scratch/server.pem
ssl.key.location=$scratch/server.key
authentication.method=BASIC
authentication.basic.users=$scratch/users
authentication.realm=sluice-test
ksql.service.id=secure_
PROPS

echo "== starting sluice server on $url (HTTPS, Basic authentication, embedded broker)"
"$bin" server --config "$scratch/server.properties" --schema-registry-listen "127.0.0.1:$sr_port" \
  >"$scratch/server.log" 2>&1 &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
fail() {
  echo "rest-security: FAILED: $*" >&2
  echo "the server's log:" >&2
  cat "$scratch/server.log" >&2
  exit 1
}

up=no
for _ in $(seq 1 300); do
  if curl -s -o /dev/null --cacert "$scratch/ca.pem" "$url/info"; then up=yes; break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ "$up" = yes ] || fail "the server did not answer on $url within 30 s"

checks=0
# expect STATUS METHOD PATH [curl args…]: the status of one request.
expect() {
  local want=$1 method=$2 path=$3
  shift 3
  local got
  got=$(curl -s -o "$scratch/body" -w '%{http_code}' --http1.1 --cacert "$scratch/ca.pem" \
    -X "$method" "$@" "$url$path" || true)
  [ "$got" = "$want" ] || fail "$method $path $* answered $got, expected $want: $(head -c 300 "$scratch/body")"
  checks=$((checks + 1))
}
stmt='{"ksql":"SHOW STREAMS;"}'
query='{"sql":"SELECT * FROM KSQL_PROCESSING_LOG EMIT CHANGES LIMIT 1;"}'
for creds in "" "-u alice:wrong" "-u mallory:wonderland" "-u bob:wonderland"; do
  # shellcheck disable=SC2086
  {
    expect 401 GET /info $creds
    expect 401 GET /healthcheck $creds
    expect 401 GET / $creds
    expect 401 GET /console/app.js $creds
    expect 401 GET /metrics $creds
    expect 401 POST /ksql $creds -d "$stmt"
    expect 401 POST /query $creds -d '{"ksql":"SELECT 1;"}'
    expect 401 POST /query-stream $creds -d "$query"
    expect 401 POST /inserts-stream $creds -d '{"target":"X"}'
    expect 401 POST /close-query $creds -d '{"queryId":"x"}'
  }
done
grep -q 'sluice-test' <(curl -s -D - -o /dev/null --cacert "$scratch/ca.pem" "$url/info") \
  || fail "the 401 does not name the realm in WWW-Authenticate"
expect 200 GET /info -u alice:wonderland
expect 200 GET /info -u bob:builder
expect 200 POST /ksql -u alice:wonderland -d "$stmt"
grep -q '"streams"' "$scratch/body" || fail "SHOW STREAMS with credentials: $(cat "$scratch/body")"
# The embedded Schema Registry takes the same users, over HTTPS with the
# same certificate.
sr_status() { curl -s -o /dev/null -w '%{http_code}' --cacert "$scratch/ca.pem" "$@" "https://localhost:$sr_port/subjects" || true; }
[ "$(sr_status)" = 401 ] || fail "the Schema Registry answered $(sr_status) without credentials"
[ "$(sr_status -u alice:nope)" = 401 ] || fail "the Schema Registry took a wrong password"
[ "$(sr_status -u alice:wonderland)" = 200 ] || fail "the Schema Registry refused alice: $(sr_status -u alice:wonderland)"
checks=$((checks + 3))
# Oversized requests.
head -c 3000000 /dev/zero | tr '\0' 'a' >"$scratch/big"
expect 413 POST /ksql -u alice:wonderland -H 'content-type: application/json' --data-binary @"$scratch/big"
grep -q '"error_code":41300' "$scratch/body" || fail "413 body: $(cat "$scratch/body")"
python3 -c 'import json; print(json.dumps({"ksql": "SHOW STREAMS; --" + "x" * 1500000}))' >"$scratch/long"
expect 400 POST /ksql -u alice:wonderland -H 'content-type: application/json' --data-binary @"$scratch/long"
grep -q 'at most' "$scratch/body" || fail "400 body: $(cat "$scratch/body")"
# No plaintext HTTP on the TLS port.
if curl -s -o /dev/null -u alice:wonderland "http://127.0.0.1:$port/info"; then
  fail "plain HTTP was answered on the HTTPS port"
fi
checks=$((checks + 1))
echo "ok curl: $checks checks (401 on every route without or with wrong credentials, 200, 413, 400, no plaintext)"

echo "== the Python client ksqldb over HTTPS with credentials"
SSL_CERT_FILE="$scratch/ca.pem" REQUESTS_CA_BUNDLE="$scratch/ca.pem" timeout 120 \
  "$venv/bin/python" - "https://alice:wonderland@localhost:$port" "https://alice:nope@localhost:$port" <<'PY' || fail "the ksqldb client"
import asyncio, sys
import requests
from ksqldb import KSQLdbClient

good, bad = sys.argv[1], sys.argv[2]
try:
    KSQLdbClient(bad).ksql("SHOW STREAMS;")
    raise SystemExit("wrong credentials were accepted")
except requests.HTTPError as e:
    assert e.response.status_code == 401, e
client = KSQLdbClient(good)
created = client.ksql(
    "CREATE STREAM secure_orders (id INT KEY, item STRING) "
    "WITH (kafka_topic='secure_orders', value_format='json', partitions=1);"
)
assert created[0]["commandStatus"]["status"] == "SUCCESS", created
client.ksql("INSERT INTO secure_orders (id, item) VALUES (1, 'key');")

async def first_row():
    rows = []
    async for row in client.query_async(
        "SELECT * FROM secure_orders EMIT CHANGES LIMIT 1;",
        stream_properties={"auto.offset.reset": "earliest"},
        timeout=60,
    ):
        rows.append(row)
    return rows

rows = asyncio.run(first_row())
assert any(r == [1, "key"] for r in rows), rows
print("ok ksqldb client: 401 with a wrong password; CREATE, INSERT and a push query over HTTP/2 with TLS")
PY

echo "== sluice shell --server https://… --user --password"
out=$(SSL_CERT_FILE="$scratch/ca.pem" timeout 60 "$bin" shell --server "$url" --user alice \
  --password wonderland -e "SHOW STREAMS;" 2>&1) || fail "the shell with credentials: $out"
grep -q SECURE_ORDERS <<<"$out" || fail "the shell's SHOW STREAMS: $out"
if out=$(SSL_CERT_FILE="$scratch/ca.pem" timeout 60 "$bin" shell --server "$url" --user alice \
  --password nope -e "SHOW STREAMS;" 2>&1); then
  fail "the shell ran with a wrong password: $out"
fi
grep -q "refused the credentials" <<<"$out" || fail "the shell's error for a wrong password: $out"
if out=$(timeout 60 "$bin" shell --server "$url" --user alice --password wonderland \
  -e "SHOW STREAMS;" 2>&1); then
  fail "the shell trusted a certificate no known CA signed: $out"
fi
grep -q "TLS" <<<"$out" || fail "the shell's error for an unknown CA: $out"
echo "ok shell: credentials, a wrong password, an unknown CA"
echo "== a second server using the first one's registry over HTTPS with credentials (ksql.schema.registry.basic.auth.user.info)"
port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$scratch/client.properties" <<PROPS
listeners=http://127.0.0.1:$port2
ksql.schema.registry.url=https://localhost:$sr_port
ksql.schema.registry.basic.auth.credentials.source=USER_INFO
ksql.schema.registry.basic.auth.user.info=alice:wonderland
PROPS
SSL_CERT_FILE="$scratch/ca.pem" "$bin" server --config "$scratch/client.properties" >"$scratch/server2.log" 2>&1 &
server2_pid=$!
trap 'kill $server2_pid 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$port2/info" && break
  sleep 0.1
done
grep -q 'alice:\*\*\*@' "$scratch/server2.log" || fail "the second server's log shows the registry password: $(grep -i registry "$scratch/server2.log")"
created=$(curl -s "http://127.0.0.1:$port2/ksql" -H 'content-type: application/json' \
  -d "{\"ksql\": \"CREATE STREAM avro_in (id INT KEY, v STRING) WITH (kafka_topic='avro_in', value_format='AVRO', partitions=1);\"}")
grep -q SUCCESS <<<"$created" || fail "CREATE STREAM with AVRO through the registry with credentials: $created"
inserted=$(curl -s "http://127.0.0.1:$port2/ksql" -H 'content-type: application/json' \
  -d "{\"ksql\": \"INSERT INTO avro_in (id, v) VALUES (1, 'a');\"}")
grep -q 'error' <<<"$inserted" && fail "INSERT with AVRO through the registry with credentials: $inserted"
subjects=$(curl -s --cacert "$scratch/ca.pem" -u alice:wonderland "https://localhost:$sr_port/subjects")
grep -q 'avro_in-value' <<<"$subjects" || fail "the registry's subjects: $subjects"
echo "ok registry credentials: the second server registered avro_in-value in the first one's registry"
echo "rest-security: passed"
