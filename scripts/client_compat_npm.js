// The npm ksqlDB client `ksqldb-client` against `sluice server`: list
// streams, create a stream, insert rows, stream a push query, and read an
// aggregation back with a pull query. Run by scripts/client-compat.sh with
// NODE_PATH pointing at the installed client; the port is the argument.
"use strict";
const KsqldbClient = require("ksqldb-client");

const port = parseInt(process.argv[2], 10);
const client = new KsqldbClient({ host: "http://127.0.0.1", port });
const earliest = { "auto.offset.reset": "earliest" };

function fail(what, detail) {
  console.error(`npm client: FAILED: ${what}: ${JSON.stringify(detail)}`);
  process.exit(1);
}

async function main() {
  await client.connect();
  let r = await client.executeStatement(
    "CREATE STREAM npm_orders (id INT KEY, item STRING, qty INT) " +
      "WITH (kafka_topic='npm_orders', value_format='JSON', partitions=1);"
  );
  if (r.error) fail("CREATE STREAM", r);

  const streams = await client.listStreams();
  if (!JSON.stringify(streams).includes("NPM_ORDERS")) fail("listStreams", streams);
  console.log("ok listStreams");

  for (const [id, item, qty] of [[1, "tea", 2], [2, "cake", 5], [1, "tea", 3]]) {
    r = await client.insertInto("NPM_ORDERS", { ID: id, ITEM: item, QTY: qty });
    if (r.error) fail("insertInto", r);
  }
  console.log("ok insertInto");

  r = await client.executeStatement(
    "CREATE TABLE npm_totals AS SELECT item, SUM(qty) AS total FROM npm_orders GROUP BY item;",
    { streamsProperties: earliest }
  );
  if (r.error) fail("CREATE TABLE AS SELECT", r);

  const rows = [];
  const pushed = await client.streamQuery(
    "SELECT * FROM npm_orders EMIT CHANGES LIMIT 3;",
    (d) => {
      if (d.rows) rows.push(...d.rows);
    },
    { properties: earliest }
  );
  if (pushed && pushed.error) fail("streamQuery", pushed);
  const want = [
    { ID: 1, ITEM: "tea", QTY: 2 },
    { ID: 2, ITEM: "cake", QTY: 5 },
    { ID: 1, ITEM: "tea", QTY: 3 },
  ];
  if (JSON.stringify(rows) !== JSON.stringify(want)) fail("push query rows", rows);
  console.log("ok streamQuery");

  // The table fills as the query runs: poll with a deadline.
  const deadline = Date.now() + 30000;
  for (;;) {
    r = await client.query("SELECT * FROM npm_totals WHERE item = 'tea';");
    const got = r.data && r.data.rows;
    if (!r.error && JSON.stringify(got) === JSON.stringify([{ ITEM: "tea", TOTAL: 5 }])) break;
    if (Date.now() > deadline) fail("pull query on the aggregate", r);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log("ok pull query");
  await client.disconnect();
}

main().then(
  () => process.exit(0),
  (e) => fail("exception", String(e && e.stack ? e.stack : e))
);
