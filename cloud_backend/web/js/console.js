// The operator console: the core's components (state, version, configuration) with restart and stop,
// a log tail, the broker's decisions (connect, subscribe, publish: allowed, or denied and why) and the
// deployments. It asks the stand-in's /api/console/ with the token from its address (#token=...),
// and builds every text as a text node.

import { el, replaceChildren, time } from "./dom.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
const $ = (selector) => document.querySelector(selector);
let after = 0;
let logName = "greengrass";
const MAX_EVENTS = 200;

async function api(path, method = "GET") {
  const response = await fetch(`/api/console/${path}`, { method, headers: { Authorization: `Bearer ${token}` } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof body.error === "string" ? body.error : `HTTP ${response.status}`);
  return body;
}

function problem(error) {
  $("#console-error").textContent = error ? error.message : "";
  $("#console-state").dataset.state = error ? "reconnecting" : "online";
  $("#console-state").textContent = error ? "not reachable" : "live";
}

async function act(name, action) {
  try { await api(`components/${encodeURIComponent(name)}/${action}`, "POST"); await refresh(); } catch (error) { problem(error); }
}

function componentRow(c) {
  const details = el("details", {}, el("summary", {}, "configuration"), el("pre", {}, JSON.stringify(c.configuration, null, 2)));
  return el("tr", { dataset: { component: c.name } },
    el("th", { scope: "row" }, c.name, details),
    el("td", {}, c.version),
    el("td", { class: "state" }, c.state, c.reason ? el("small", {}, ` ${c.reason}`) : null),
    el("td", {},
      el("button", { type: "button", class: "restart", onclick: () => act(c.name, "restart") }, "restart"), " ",
      el("button", { type: "button", class: "stop", onclick: () => act(c.name, "stop") }, "stop"), " ",
      el("button", { type: "button", class: "show-log", onclick: () => { logName = c.name; refreshLog(); } }, "log")));
}

const rows = new Map(); // component -> {shown: its JSON, row}: a row is drawn again only when it changed

async function refresh() {
  const listed = await api("components");
  $("#console-thing").textContent = `core ${listed.thing}`;
  const shownNow = listed.components.map((c) => {
    const shown = JSON.stringify(c);
    const known = rows.get(c.name);
    if (known && known.shown === shown) return known.row;
    const row = componentRow(c);
    rows.set(c.name, { shown, row });
    return row;
  });
  replaceChildren($("#components tbody"), shownNow);
  const { deployments } = await api("deployments");
  replaceChildren($("#deployments"), deployments.slice().reverse().map((d) =>
    el("li", {}, el("time", {}, time(d.created * 1000)), ` ${d.status} ${d.id}`, d.reason ? ` (${d.reason})` : "")));
  problem(null);
}

async function refreshLog() {
  const { name, lines } = await api(`logs/${encodeURIComponent(logName)}?lines=50`);
  $("#log-name").textContent = name;
  replaceChildren($("#log"), lines.map((line) => {
    const { ts, level, event, logger, ...rest } = line;
    const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
    return el("li", { class: String(level || "").toLowerCase() }, el("time", {}, String(ts || "")), ` ${level} ${event} ${fields}`);
  }));
}

async function refreshMonitor() {
  const { events } = await api(`monitor?after=${after}`);
  const list = $("#monitor");
  for (const e of events) {
    after = Math.max(after, e.seq);
    list.prepend(el("li", { class: e.allowed ? "allowed" : "denied", dataset: { action: e.action } },
      el("time", {}, time(e.ts)), ` ${e.clientId} ${e.action} ${e.name}: `, el("strong", {}, e.allowed ? "allowed" : "denied"),
      e.allowed ? "" : ` (${e.reason})`));
  }
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

async function tick() {
  try {
    await Promise.all([refresh(), refreshLog(), refreshMonitor()]);
  } catch (error) {
    problem(error);
  }
  setTimeout(tick, 1000);
}

tick();
