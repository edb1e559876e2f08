// sluice web console: a SQL editor, live push-query tables and a catalog
// panel, over sluice's ksqlDB-compatible REST API. Plain JS, no build step.
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
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let pending = "", tbody = null, rows = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!line) continue;
        const item = JSON.parse(line);
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
      }
    }
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
refreshCatalog();
setInterval(refreshCatalog, 2000);
