// Drives the web console in headless Chromium the way a person would:
// runs statements with Ctrl-Enter, watches a push query's table fill live,
// stops it, and checks the catalog panel. Usage: node console.mjs URL SHOT.png
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const fail = (msg) => { console.error(`FAILED: ${msg}`); process.exit(1); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(20000);
  await page.goto(url);
  await page.waitForSelector("#server-status.ok");

  // DDL and inserts, run with Ctrl-Enter.
  await page.fill("#editor", `
    CREATE STREAM pageviews (user_id STRING KEY, page STRING, ms INT)
      WITH (kafka_topic='pageviews', value_format='json', partitions=1);
    INSERT INTO pageviews (user_id, page, ms) VALUES ('ann', '/home', 120);
    INSERT INTO pageviews (user_id, page, ms) VALUES ('bob', '/cart', 340);`);
  await page.press("#editor", "Control+Enter");
  await page.waitForSelector(".result .message:has-text('Stream created')");

  // A bad statement shows its error, not a crash.
  await page.fill("#editor", "SELECT pag FROM pageviews EMIT CHANGES;");
  await page.press("#editor", "Control+Enter");
  await page.waitForSelector(".result.error:has-text('PAG')");

  // A push query fills a live table; a row inserted later appears too.
  await page.check("#earliest");
  await page.fill("#editor", "SELECT user_id, UCASE(page) AS page, ms FROM pageviews EMIT CHANGES;");
  await page.press("#editor", "Control+Enter");
  await page.waitForSelector(".push tbody tr:nth-child(2)");
  await page.fill("#editor", "INSERT INTO pageviews (user_id, page, ms) VALUES ('cy', '/pay', 80);");
  await page.press("#editor", "Control+Enter");
  await page.waitForSelector(".push tbody tr:nth-child(3) td:has-text('/PAY')");
  const count = await page.textContent(".push .count");
  if (count !== "3 rows") fail(`push query shows '${count}', expected '3 rows'`);
  await page.click(".push button.stop");
  await page.waitForSelector(".push button:has-text('Stopped')");

  // A persistent query appears in the catalog panel with its status.
  await page.fill("#editor", "CREATE STREAM slow AS SELECT user_id, ms FROM pageviews WHERE ms > 100;");
  await page.press("#editor", "Control+Enter");
  await page.waitForSelector("#list-streams li:has-text('PAGEVIEWS')");
  await page.waitForSelector("#list-queries li:has-text('CSAS_SLOW_0'):has-text('RUNNING')");
  await page.waitForSelector("#list-queries li:has-text('3 in')");
  await page.waitForSelector("#list-topics li:has-text('SLOW')");
  if (shot) await page.screenshot({ path: shot, fullPage: true });

  // The monitor: a live card per persistent query, charts from /metrics.
  await page.click("#tab-monitor");
  await page.waitForSelector(".qcard[data-query='CSAS_SLOW_0'] canvas.throughput");
  await page.waitForSelector(".qcard[data-query='CSAS_SLOW_0'] .stat-in:has-text('3 in')");
  await page.waitForSelector(".qcard[data-query='CSAS_SLOW_0'] .stat-lag:has-text('0 behind')");
  // Records that fail arrive in the processing log as they happen, with
  // where they came from.
  await page.click("#tab-sql");
  await page.fill("#editor", "CREATE STREAM bad AS SELECT user_id, CAST(page AS INT) AS n FROM pageviews;");
  await page.press("#editor", "Control+Enter");
  await page.waitForSelector(".result .message:has-text('Created query')");
  await page.click("#tab-monitor");
  await page.waitForSelector("#plog tbody tr:has-text('expression'):has-text('CSAS_BAD_1'):has-text('pageviews/0@2')");
  await page.waitForSelector(".qcard[data-query='CSAS_BAD_1'] .stat-errors:has-text('3 errors')");
  // A chart that moves: more rows raise the throughput line.
  for (let i = 0; i < 20; i++) {
    await page.evaluate(async (n) => {
      await fetch("/ksql", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ksql: `INSERT INTO pageviews (user_id, page, ms) VALUES ('u${n}', '/p', ${200 + n});` }) });
    }, i);
  }
  await page.waitForSelector(".qcard[data-query='CSAS_SLOW_0'] .stat-in:has-text('23 in')");
  const drawn = await page.evaluate(() => {
    const c = document.querySelector(".qcard[data-query='CSAS_SLOW_0'] canvas.throughput");
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++;
    return ink;
  });
  if (drawn < 100) fail(`the throughput chart is blank (${drawn} pixels drawn)`);
  // The topology of a query, drawn from EXPLAIN.
  await page.click(".qcard[data-query='CSAS_SLOW_0'] button.show-topology");
  await page.waitForSelector("#topology svg g.node.topic:has-text('PAGEVIEWS')");
  await page.waitForSelector("#topology svg g.node.topic:has-text('SLOW')");
  const ops = await page.$$eval("#topology svg g.node.op", (n) => n.map((x) => x.textContent));
  if (!ops.some((t) => /MS(@\d+)? > 100/.test(t))) fail(`the topology lacks the filter: ${JSON.stringify(ops)}`);
  const edges = await page.$$eval("#topology svg path.edge", (e) => e.length);
  if (edges < 2) fail(`the topology has ${edges} edges`);
  if (shot) await page.screenshot({ path: shot.replace(/\.png$/, "-monitor.png"), fullPage: true });
  console.log("web console: all checks passed");
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
}
