// The dashboard: devices and cores with online state and last seen, a live chart per thing and
// sensor (drawn on a canvas at most once per frame, from fixed-size series), the alerts room, and a
// tag cloud of label counts per thing from the image analyzers.

import { el, replaceChildren, time } from "./dom.js";
import { ALERTS } from "./store.js";
import { WINDOW_MS } from "./series.js";

export class DashView {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.devices = root.querySelector("#devices");
    this.charts = root.querySelector("#charts");
    this.alerts = root.querySelector("#alerts");
    this.vision = root.querySelector("#vision");
    this.canvases = new Map(); // series key -> canvas
    this.dirty = false;
  }

  draw(what) {
    if (["devices", "telemetry", "all"].includes(what)) this.drawDevices();
    if (["telemetry", "all"].includes(what)) this.schedule();
    if (["alerts", "messages", "all"].includes(what)) this.drawAlerts();
    if (["vision", "all"].includes(what)) this.drawVision();
  }

  drawDevices() {
    const items = [...this.store.devices.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([thing, d]) =>
      el("li", { class: d.online === false ? "device offline" : "device online", dataset: { thing } },
        el("span", { class: "thing" }, thing), " ",
        el("span", { class: "state" }, d.online === false ? "offline" : "online"), " ",
        el("span", { class: "seen" }, `last seen ${time(d.lastSeen ?? d.since)}`),
        ...(d.core ? [" ", el("span", { class: d.core.health === "HEALTHY" ? "health healthy" : "health unhealthy" },
          `${d.core.health}, ${d.core.components} components${d.core.broken.length ? `, broken: ${d.core.broken.join(", ")}` : ""}`)] : [])));
    replaceChildren(this.devices, items);
  }

  schedule() {
    if (this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => { this.dirty = false; this.drawCharts(); });
  }

  drawCharts() {
    const now = Date.now();
    for (const [key, series] of this.store.series) {
      let figure = this.canvases.get(key);
      if (!figure) {
        const canvas = el("canvas", { width: 320, height: 120, role: "img" });
        const caption = el("figcaption", {});
        figure = { canvas, caption, node: el("figure", { class: "chart", dataset: { series: key } }, caption, canvas) };
        this.canvases.set(key, figure);
        this.charts.append(figure.node);
      }
      figure.caption.textContent = `${series.thing} ${series.sensor}: ${series.last}${series.alerting ? " (alert)" : ""}`;
      figure.canvas.setAttribute("aria-label", `${series.thing} ${series.sensor}, latest ${series.last}`);
      figure.node.dataset.points = String(series.length);
      plot(figure.canvas, series.points(now), now, series.alerting);
    }
  }

  drawAlerts() {
    const room = this.store.rooms.get(ALERTS);
    const messages = room ? [...room.messages.values()].filter((m) => !m.system).slice(-20).reverse() : [];
    replaceChildren(this.alerts, messages.map((m) => el("li", {}, el("time", {}, time(m.ts)), " ", m.text)));
  }

  drawVision() {
    const panels = [...this.store.vision.entries()].map(([thing, v]) => {
      const most = Math.max(1, ...v.labels.map(([, n]) => n));
      const tags = v.labels.map(([label, n]) => el("li", { class: "tag", style: undefined, dataset: { weight: String(Math.ceil((n / most) * 4)) } }, `${label} ${n}`));
      // a JPEG (checked to be base64 of one) as a data: URL: an image, never markup
      const picture = v.thumbnail ? el("img", { class: "thumbnail", src: `data:image/jpeg;base64,${v.thumbnail}`, alt: `the latest frame from ${thing}`, width: 160 }) : null;
      return el("section", { class: "vision", dataset: { thing } },
        el("h3", {}, thing), picture, el("p", {}, `${v.frames} frames, ${v.faces} faces, ${time(v.ts)}`), el("ul", { class: "tags" }, tags));
    });
    replaceChildren(this.vision, panels);
  }
}

function plot(canvas, points, now, alerting) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  if (points.length === 0) return;
  let low = Infinity, high = -Infinity;
  for (const [, v] of points) { low = Math.min(low, v); high = Math.max(high, v); }
  if (high === low) { high += 1; low -= 1; }
  context.strokeStyle = alerting ? "#b3261e" : "#1b5e9b";
  context.lineWidth = 2;
  context.beginPath();
  points.forEach(([t, v], i) => {
    const x = ((t - (now - WINDOW_MS)) / WINDOW_MS) * width;
    const y = height - 4 - ((v - low) / (high - low)) * (height - 8);
    if (i === 0) context.moveTo(x, y); else context.lineTo(x, y);
  });
  context.stroke();
}
