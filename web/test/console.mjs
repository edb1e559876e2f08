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
  console.log("web console: all checks passed");
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
}
