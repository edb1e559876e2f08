// sluice web console: a SQL editor, live push-query tables and a catalog
// panel, over sluice's ksqlDB-compatible REST API; and a monitor: live
// charts of each persistent query's throughput and lag (from /metrics),
// the processing log as it arrives (a push query on KSQL_PROCESSING_LOG),
// and a query's topology drawn from EXPLAIN. Plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const results = $("results");
const rates = new Map(); // query id -> {records, at}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function cellText(v) {
  if (v === null || v === undefined) return "null";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function table(headers, rows) {
  const t = el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  for (const r of rows) body.append(el("tr", {}, ...r.map((c) => el("td", {}, cellText(c)))));
  t.append(body);
  return t;
}

// Splits SQL text into statements on ';' outside quotes and comments.
function splitStatements(text) {
  const out = [];
  let cur = "", i = 0, quote = null;
  while (i < text.length) {
    const c = text[i], n = text[i + 1];
    if (quote) {
      cur += c;
      if (c === quote) quote = null;
    } else if (c === "-" && n === "-") {
      const end = text.indexOf("\n", i);
      i = end < 0 ? text.length : end;
      continue;
    } else if (c === "/" && n === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
      continue;
    } else if (c === "'" || c === "`" || c === '"') {
      quote = c;
      cur += c;
    } else if (c === ";") {
      if (cur.trim()) out.push(cur.trim() + ";");
      cur = "";
    } else {
      cur += c;
    }
    i++;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function properties() {
  return $("earliest").checked ? { "auto.offset.reset": "earliest" } : {};
}

async function api(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/vnd.ksql.v1+json", Accept: "application/vnd.ksql.v1+json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = { message: text }; }
  if (!res.ok) throw new Error(json.message || `HTTP ${res.status}`);
  return json;
}

function card(title, extraTitle = []) {
  const body = el("div", { class: "body" });
  const c = el("div", { class: "result" }, el("div", { class: "title" }, title, ...extraTitle), body);
  results.prepend(c);
  return { card: c, body };
}

function showError(statement, message) {
  const { card: c, body } = card(statement);
  c.classList.add("error");
  body.textContent = message;
}

function renderEntity(statement, e) {
  const { body } = card(statement);
  switch (e["@type"]) {
    case "streams":
    case "tables": {
      const list = e[e["@type"]] || [];
      body.append(table(["Name", "Kafka Topic", "Key Format", "Value Format"],
        list.map((s) => [s.name, s.topic, s.keyFormat, s.valueFormat])));
      break;
    }
    case "kafka_topics":
      body.append(table(["Kafka Topic", "Partitions"], (e.topics || []).map((t) => [t.name, (t.replicaInfo || []).length])));
      break;
    case "queries":
      body.append(table(["Query ID", "Status", "Sink", "Query"],
        (e.queries || []).map((q) => [q.id, q.state, (q.sinks || []).join(","), q.queryString])));
      break;
    case "properties":
      body.append(table(["Property", "Scope", "Value"], (e.properties || []).map((p) => [p.name, p.scope, p.value])));
      break;
    case "sourceDescription": {
      const d = e.sourceDescription || e;
      body.append(el("div", {}, `${d.type} ${d.name} — topic ${d.topic}, key ${d.keyFormat}, value ${d.valueFormat}`));
      body.append(table(["Field", "Type"], (d.fields || []).map((f) =>
        [f.name, (f.schema && f.schema.type) + (f.fieldType === "KEY" ? " (key)" : "")])));
      break;
    }
    case "queryDescription": {
      const d = e.queryDescription || e;
      body.append(el("pre", {}, d.executionPlan || ""));
      break;
    }
    default: {
      const msg = (e.commandStatus && e.commandStatus.message) || e.message || "Done";
      body.append(el("span", { class: "message" }, msg));
    }
  }
}

// Calls `onItem` with each JSON document of a delimited stream response.
async function eachLine(res, onItem) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    pending += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line) onItem(JSON.parse(line));
    }
  }
}

async function runPush(statement) {
  const controller = new AbortController();
  const count = el("span", { class: "count" }, "0 rows");
  const stop = el("button", { class: "stop" }, "Stop");
  const { card: c, body } = card(statement, [count, stop]);
  c.classList.add("push");
  let queryId = null;
  stop.addEventListener("click", async () => {
    controller.abort();
    stop.disabled = true;
    stop.textContent = "Stopped";
    if (queryId) {
      try { await api("/close-query", { queryId }); } catch { /* already gone */ }
    }
  });
  let res;
  try {
    res = await fetch("/query-stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/vnd.ksqlapi.delimited.v1" },
      body: JSON.stringify({ sql: statement, properties: properties() }),
      signal: controller.signal,
    });
  } catch (e) {
    showError(statement, String(e));
    return;
  }
  if (!res.ok) {
    const text = await res.text();
    let msg = text;
    try { msg = JSON.parse(text).message || text; } catch { /* plain text */ }
    c.remove();
    showError(statement, msg);
    return;
  }
  let tbody = null, rows = 0;
  try {
    await eachLine(res, (item) => {
      if (!tbody) {
        queryId = item.queryId;
        const t = table(item.columnNames || [], []);
        tbody = t.querySelector("tbody");
        body.append(t);
      } else if (Array.isArray(item)) {
        tbody.append(el("tr", { class: "new" }, ...item.map((v) => el("td", {}, cellText(v)))));
        rows++;
        count.textContent = `${rows} row${rows === 1 ? "" : "s"}`;
      } else if (item.message) {
        body.append(el("div", { class: "error" }, item.message));
      }
    });
    if (!stop.disabled) {
      stop.disabled = true;
      stop.textContent = "Finished";
    }
  } catch (e) {
    if (!controller.signal.aborted) body.append(el("div", { class: "error" }, String(e)));
  }
}

async function run() {
  const text = $("editor").value;
  for (const statement of splitStatements(text)) {
    const head = statement.replace(/^\s+/, "").slice(0, 6).toUpperCase();
    if (head === "SELECT" || head.startsWith("PRINT")) {
      runPush(statement); // streams on while the next statements run
      continue;
    }
    try {
      const entities = await api("/ksql", { ksql: statement, streamsProperties: properties() });
      if (entities.length === 0) renderEntity(statement, { message: "Done" });
      for (const e of entities) renderEntity(statement, e);
    } catch (e) {
      showError(statement, e.message);
      break;
    }
  }
  refreshCatalog();
}

function fill(id, items) {
  const ul = $(id);
  ul.replaceChildren(...items);
}

async function refreshCatalog() {
  try {
    const [streams, tables, queries, topics] = await api("/ksql", {
      ksql: "SHOW STREAMS; SHOW TABLES; SHOW QUERIES; SHOW TOPICS;",
    });
    const sourceItem = (s) => el("li", {
      title: "Click to query",
      onclick: () => { $("editor").value = `SELECT * FROM ${s.name} EMIT CHANGES;`; $("editor").focus(); },
    }, s.name, el("span", { class: "meta" }, `${s.topic} · ${s.valueFormat}`));
    fill("list-streams", (streams.streams || []).map(sourceItem));
    fill("list-tables", (tables.tables || []).map(sourceItem));
    const now = Date.now();
    fill("list-queries", (queries.queries || []).map((q) => {
      const prev = rates.get(q.id);
      const records = q.recordsIn || 0;
      let rate = "";
      if (prev && now > prev.at) rate = ` · ${Math.round(((records - prev.records) * 1000) / (now - prev.at))} rec/s`;
      rates.set(q.id, { records, at: now });
      return el("li", { class: q.state === "RUNNING" ? "" : "error" }, q.id,
        el("span", { class: "meta" }, `${q.state} · ${records} in · ${q.recordsOut || 0} out${rate}`));
    }));
    fill("list-topics", (topics.topics || []).map((t) =>
      el("li", {}, t.name, el("span", { class: "meta" }, `${(t.replicaInfo || []).length} partitions`))));
    $("server-status").textContent = "connected";
    $("server-status").className = "status ok";
  } catch (e) {
    $("server-status").textContent = "server unreachable";
    $("server-status").className = "status down";
  }
}

$("run").addEventListener("click", run);
$("editor").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    run();
  }
});
// ---- Monitor -------------------------------------------------------------

// Parses the Prometheus/OpenMetrics text of /metrics into samples.
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[2] || ""))) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const HISTORY = 90; // samples kept per query (3 minutes at 2 s)
const monitor = new Map(); // query id -> {samples, card, canvases, stats}

// Draws `values` as a line chart over the canvas, with the latest value.
function drawChart(canvas, values, color, label) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 300, h = canvas.clientHeight || 70;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const max = Math.max(1, ...values);
  g.strokeStyle = "#e3e7ee";
  g.beginPath();
  g.moveTo(0, h - 0.5);
  g.lineTo(w, h - 0.5);
  g.stroke();
  if (values.length > 1) {
    const x = (i) => (i * w) / (HISTORY - 1);
    const y = (v) => h - 4 - ((h - 18) * v) / max;
    g.fillStyle = color + "22";
    g.beginPath();
    g.moveTo(x(0), h);
    values.forEach((v, i) => g.lineTo(x(i), y(v)));
    g.lineTo(x(values.length - 1), h);
    g.fill();
    g.strokeStyle = color;
    g.lineWidth = 1.5;
    g.beginPath();
    values.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
    g.stroke();
  }
  g.fillStyle = "#4a5468";
  g.font = "11px system-ui, sans-serif";
  const last = values.length ? values[values.length - 1] : 0;
  g.fillText(`${label}: ${Math.round(last).toLocaleString()} (max ${Math.round(max).toLocaleString()})`, 4, 12);
}

function queryCard(id) {
  let entry = monitor.get(id);
  if (entry) return entry;
  const throughput = el("canvas", { class: "throughput" });
  const lag = el("canvas", { class: "lag" });
  const stats = el("div", { class: "stats" });
  const state = el("span", { class: "state" });
  const card = el("div", { class: "qcard", "data-query": id },
    el("div", { class: "head" }, el("b", {}, id), state,
      el("button", { class: "show-topology", onclick: () => showTopology(id) }, "Topology")),
    stats, throughput, lag);
  const holder = $("monitor-queries");
  holder.querySelector(".empty")?.remove();
  holder.append(card);
  entry = { samples: [], card, throughput, lag, stats, state };
  monitor.set(id, entry);
  return entry;
}

async function pollMetrics() {
  let text;
  try {
    const res = await fetch("/metrics");
    if (!res.ok) return;
    text = await res.text();
  } catch {
    return;
  }
  const now = Date.now();
  const per = new Map();
  const get = (id) => {
    if (!per.has(id)) per.set(id, { in: 0, out: 0, lag: 0, errors: 0, state: "RUNNING", rows: null });
    return per.get(id);
  };
  for (const s of parseMetrics(text)) {
    const id = s.labels.query_id;
    if (!id) continue;
    const q = get(id);
    switch (s.name) {
      case "sluice_query_records_in_total": q.in = s.value; break;
      case "sluice_query_records_out_total": q.out = s.value; break;
      case "sluice_query_consumer_lag": q.lag += s.value; break;
      case "sluice_query_processing_errors_total": q.errors += s.value; break;
      case "sluice_query_state_rows": q.rows = s.value; break;
      case "sluice_query_status": if (s.value === 1) q.state = s.labels.state; break;
    }
  }
  for (const [id, entry] of monitor) {
    if (!per.has(id)) {
      entry.card.remove();
      monitor.delete(id);
    }
  }
  if (monitor.size === 0 && per.size === 0 && !$("monitor-queries").querySelector(".empty")) {
    $("monitor-queries").append(el("p", { class: "empty" }, "No persistent query runs on this server."));
  }
  for (const [id, q] of per) {
    const entry = queryCard(id);
    const prev = entry.samples[entry.samples.length - 1];
    const rate = prev && now > prev.at ? Math.max(0, ((q.in - prev.in) * 1000) / (now - prev.at)) : 0;
    entry.samples.push({ at: now, in: q.in, rate, lag: q.lag });
    if (entry.samples.length > HISTORY) entry.samples.shift();
    entry.card.classList.toggle("error", q.state !== "RUNNING");
    entry.state.textContent = q.state;
    entry.stats.replaceChildren(
      el("span", { class: "stat-in" }, el("b", {}, q.in.toLocaleString()), " in"),
      el("span", { class: "stat-out" }, el("b", {}, q.out.toLocaleString()), " out"),
      el("span", { class: "stat-lag" }, el("b", {}, q.lag.toLocaleString()), " behind"),
      el("span", { class: "stat-errors" }, el("b", {}, q.errors.toLocaleString()), " errors"),
      ...(q.rows === null ? [] : [el("span", {}, el("b", {}, q.rows.toLocaleString()), " keys")]));
    if (!$("view-monitor").hidden) {
      drawChart(entry.throughput, entry.samples.map((s) => s.rate), "#2f6fde", "records/s in");
      drawChart(entry.lag, entry.samples.map((s) => s.lag), "#d19a00", "lag (records)");
    }
  }
}

// The processing log, live: a push query from now on, restarted if it ends.
let plogRunning = false;
async function followProcessingLog() {
  if (plogRunning) return;
  plogRunning = true;
  const tbody = $("plog").querySelector("tbody");
  let entries = 0;
  try {
    const res = await fetch("/query-stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/vnd.ksqlapi.delimited.v1" },
      body: JSON.stringify({ sql: "SELECT * FROM KSQL_PROCESSING_LOG EMIT CHANGES;", properties: {} }),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    let columns = null;
    await eachLine(res, (item) => {
      if (!columns) { columns = item.columnNames || []; return; }
      if (!Array.isArray(item)) return;
      const row = Object.fromEntries(columns.map((c, i) => [c, item[i]]));
      const m = row.MESSAGE || {};
      const lower = Object.fromEntries(Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]));
      const where = lower.topic ? `${lower.topic}/${lower.partition ?? "?"}@${lower.offset ?? "?"}` : "";
      const time = row.TIME ? new Date(row.TIME).toLocaleTimeString() : "";
      tbody.prepend(el("tr", { class: "new" }, el("td", {}, time), el("td", {}, lower.type || ""),
        el("td", {}, lower.queryid || ""), el("td", {}, where), el("td", {}, lower.errormessage || "")));
      while (tbody.children.length > 200) tbody.lastChild.remove();
      entries++;
      $("plog-count").textContent = `live · ${entries} since opened`;
    });
  } catch (e) {
    $("plog-count").textContent = `disconnected (${e.message}); retrying`;
  } finally {
    plogRunning = false;
    setTimeout(followProcessingLog, 3000);
  }
}

// A query's topology, from EXPLAIN: its sources, each stage of its plan,
// and its sinks, drawn as a graph (SVG).
async function showTopology(id) {
  $("topology-title").textContent = id;
  let d;
  try {
    const [entity] = await api("/ksql", { ksql: `EXPLAIN ${id};` });
    d = entity.queryDescription || entity;
  } catch (e) {
    $("topology").replaceChildren(el("div", { class: "error" }, e.message));
    return;
  }
  const main = [], sides = [];
  for (const line of (d.executionPlan || "").split("\n")) {
    if (!line.trim()) continue;
    if (/^Input \d+:/.test(line)) sides.push({ head: line, ops: [] });
    else if (line.startsWith("  ") && sides.length) sides[sides.length - 1].ops.push(line.trim());
    else main.push(line.trim());
  }
  const nodes = [];
  (d.sources || []).forEach((s) => nodes.push({ text: s, kind: "topic", col: 0 }));
  const firstOp = nodes.length;
  main.forEach((t) => nodes.push({ text: t, kind: "op", col: 0 }));
  (d.sinks || []).forEach((s) => nodes.push({ text: s, kind: "topic", col: 0 }));
  const W = 520, H = 30, GAP = 18, SIDE_X = W + 60;
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  const mk = (tag, attrs) => {
    const e = document.createElementNS(svgNs, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };
  const defs = mk("defs", {});
  const marker = mk("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" });
  marker.append(mk("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7588" }));
  defs.append(marker);
  svg.append(defs);
  const box = (n, x, y, w) => {
    const g = mk("g", { class: `node ${n.kind === "topic" ? "topic" : n.kind}` });
    g.append(mk("rect", { x, y, width: w, height: H, rx: 5 }));
    const label = n.text.length > 70 ? n.text.slice(0, 67) + "…" : n.text;
    const t = mk("text", { x: x + 8, y: y + 19 });
    t.textContent = label;
    const title = mk("title", {});
    title.textContent = n.text;
    g.append(title, t);
    svg.append(g);
  };
  const edge = (x1, y1, x2, y2) => svg.append(mk("path", { class: "edge", d: `M${x1},${y1} L${x2},${y2}` }));
  nodes.forEach((n, i) => {
    const y = 10 + i * (H + GAP);
    box(n, 10, y, W);
    if (i > 0) edge(10 + W / 2, y - GAP, 10 + W / 2, y);
  });
  // Each other input of a join: its stages beside the main chain, into
  // the join.
  let height = 20 + nodes.length * (H + GAP);
  const joinAt = nodes.findIndex((n, i) => i >= firstOp && /join/i.test(n.text));
  sides.forEach((s, k) => {
    const chain = [s.head, ...s.ops];
    const top = 10 + k * (chain.length + 1) * (H + GAP);
    chain.forEach((t, i) => {
      const y = top + i * (H + GAP);
      box({ text: t, kind: "side" }, SIDE_X, y, W * 0.8);
      if (i > 0) edge(SIDE_X + W * 0.4, y - GAP, SIDE_X + W * 0.4, y);
    });
    const target = joinAt >= 0 ? joinAt : firstOp;
    const lastY = top + (chain.length - 1) * (H + GAP) + H / 2;
    edge(SIDE_X, lastY, 10 + W, 10 + target * (H + GAP) + H / 2);
    height = Math.max(height, top + chain.length * (H + GAP) + 10);
  });
  const width = sides.length ? SIDE_X + W * 0.8 + 20 : W + 20;
  // Scales down to the panel, never up.
  svg.setAttribute("width", "100%");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.style.maxWidth = `${width}px`;
  $("topology").replaceChildren(svg);
}

function showView(name) {
  $("view-sql").hidden = name !== "sql";
  $("view-monitor").hidden = name !== "monitor";
  $("tab-sql").classList.toggle("active", name === "sql");
  $("tab-monitor").classList.toggle("active", name === "monitor");
  if (name === "monitor") pollMetrics();
}
$("tab-sql").addEventListener("click", () => showView("sql"));
$("tab-monitor").addEventListener("click", () => showView("monitor"));

refreshCatalog();
setInterval(refreshCatalog, 2000);
pollMetrics();
setInterval(pollMetrics, 2000);
followProcessingLog();
