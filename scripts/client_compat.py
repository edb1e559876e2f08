"""Drives `sluice server` with the Python package `ksqldb` (a ksqlDB REST
client nobody here wrote): list streams, create a stream, insert rows (INSERT
VALUES and the HTTP/2 /inserts-stream), stream push queries (with LIMIT, and
one closed with /close-query), and check an error. Usage: client_compat.py URL
"""

import asyncio
import sys

import requests
from ksqldb import KSQLdbClient

URL = sys.argv[1]
EARLIEST = {"auto.offset.reset": "earliest"}
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise AssertionError(what)
    checks += 1


client = KSQLdbClient(URL)

# List streams.
listed = client.ksql("SHOW STREAMS;")
check(listed[0]["@type"] == "streams", f"SHOW STREAMS answers a streams entity: {listed}")
check(
    all("CLIENT_ORDERS" != s["name"] for s in listed[0]["streams"]),
    f"no CLIENT_ORDERS stream yet: {listed}",
)

# Create a stream.
created = client.ksql(
    "CREATE STREAM client_orders (id INT KEY, item STRING, qty INT) "
    "WITH (kafka_topic='client_orders', value_format='json', partitions=1);"
)
check(created[0]["commandStatus"]["status"] == "SUCCESS", f"CREATE STREAM succeeds: {created}")
listed = client.ksql("SHOW STREAMS;")
names = [s["name"] for s in listed[0]["streams"]]
check("CLIENT_ORDERS" in names, f"SHOW STREAMS lists CLIENT_ORDERS: {names}")
props = client.get_properties()
check(any(p["name"] == "ksql.service.id" for p in props), f"SHOW PROPERTIES: {props}")

# Insert: INSERT VALUES through /ksql, then rows through /inserts-stream.
client.ksql("INSERT INTO client_orders (id, item, qty) VALUES (1, 'apple', 3);")
acks = client.inserts_stream(
    "client_orders",
    [{"ID": 2, "ITEM": "pear", "QTY": 5}, {"id": 3, "item": "fig", "qty": 7}],
)
check(acks == [{"status": "ok", "seq": 0}, {"status": "ok", "seq": 1}], f"inserts acked: {acks}")


async def push_with_limit():
    return [
        x
        async for x in client.query_async(
            "SELECT id, item, qty FROM client_orders EMIT CHANGES LIMIT 3;",
            stream_properties=EARLIEST,
            timeout=30,
        )
    ]


# A push query with LIMIT (HTTP/2 /query-stream).
rows = asyncio.run(push_with_limit())
check(rows[0]["columnNames"] == ["ID", "ITEM", "QTY"], f"header: {rows[0]}")
check(rows[0]["columnTypes"] == ["INTEGER", "STRING", "INTEGER"], f"header: {rows[0]}")
check(rows[1:] == [[1, "apple", 3], [2, "pear", 5], [3, "fig", 7]], f"rows: {rows}")


async def push_then_close():
    stream = client.query_async(
        "SELECT item FROM client_orders EMIT CHANGES;", stream_properties=EARLIEST, timeout=30
    )
    header = await stream.__anext__()
    first = await stream.__anext__()
    closed = await asyncio.to_thread(client.close_query, header["queryId"])
    rest = [x async for x in stream]
    return header, first, closed, rest


# A push query without LIMIT, ended with /close-query.
header, first, closed, rest = asyncio.run(push_then_close())
check(header["queryId"].startswith("transient_CLIENT_ORDERS_"), f"query id: {header}")
check(first == ["apple"], f"first row: {first}")
check(closed, "close-query succeeds")
check(all(r in (["pear"], ["fig"]) for r in rest), f"rows after close: {rest}")
check(not client.close_query(header["queryId"]), "a closed query cannot be closed again")

# A bad statement is a 400 with ksqlDB's error object.
try:
    client.ksql("CREATE STREAM client_orders_2 AS SELECT id, nope FROM client_orders;")
    check(False, "a bad statement fails")
except requests.HTTPError as e:
    body = e.response.json()
    check(e.response.status_code == 400, f"status 400: {e.response.status_code}")
    check(body["@type"] == "statement_error" and "NOPE" in body["message"], f"error: {body}")

info = requests.get(f"{URL}/info", timeout=10).json()
check(info["KsqlServerInfo"]["serverStatus"] == "RUNNING", f"/info: {info}")

print(f"client-compat: ok, all {checks} checks of the ksqldb client held")
