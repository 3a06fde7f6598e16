// paas dashboard: draws the metrics graphs as inline SVG from
// metrics.json, and follows the log tail (server-sent events). Written by
// hand, no library: every text goes in through textContent, never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
// Lines are told apart by their dash, not only their colour.
const STYLES = [
  { color: "#0a58ca", dash: "" },
  { color: "#a40e26", dash: "6 3" },
  { color: "#116329", dash: "2 3" },
  { color: "#6e40c9", dash: "10 3 2 3" },
];

function el(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  return node;
}

function format(value) {
  if (value === null || value === undefined) return "none";
  if (value >= 100) return Math.round(value).toString();
  return (Math.round(value * 10) / 10).toString();
}

function timeLabel(seconds, span) {
  const date = new Date(seconds * 1000);
  if (span > 2 * 86400) return date.toLocaleDateString(undefined, { weekday: "short", day: "numeric" });
  return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

// One graph: each series a polyline over [since, until], y from 0 to the peak.
function draw(figure, series, since, until) {
  const width = 600, height = 160, left = 48, top = 14, bottom = 24;
  const names = Object.keys(series);
  let peak = 0;
  for (const name of names) for (const [, v] of series[name]) if (v !== null && v > peak) peak = v;
  const ceiling = peak > 0 ? peak * 1.1 : 1;
  const x = (t) => left + ((t - since) / Math.max(1, until - since)) * (width - left - 4);
  const y = (v) => top + (1 - v / ceiling) * (height - top - bottom);
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  const title = el("title");
  title.textContent = figure.querySelector("figcaption").textContent;
  svg.appendChild(title);
  for (const fraction of [0, 0.5, 1]) {
    const value = ceiling * fraction;
    svg.appendChild(el("line", { x1: left, x2: width, y1: y(value), y2: y(value), stroke: "#d0d7de" }));
    const label = el("text", { x: left - 4, y: y(value) + 4, "text-anchor": "end", "font-size": 18, fill: "#57606a" });
    label.textContent = format(value);
    svg.appendChild(label);
  }
  for (const [t, anchor] of [[since, "start"], [until, "end"]]) {
    const label = el("text", { x: x(t), y: height - 2, "text-anchor": anchor, "font-size": 18, fill: "#57606a" });
    label.textContent = timeLabel(t, until - since);
    svg.appendChild(label);
  }
  names.forEach((name, i) => {
    const style = STYLES[i % STYLES.length];
    // A gap (no value) breaks the line.
    let points = [];
    const flush = () => {
      if (points.length === 1) {
        // One point alone draws no line: a dot.
        const [cx, cy] = points[0].split(",");
        svg.appendChild(el("circle", { cx, cy, r: 4, fill: style.color }));
      } else if (points.length > 1) {
        svg.appendChild(el("polyline", { points: points.join(" "), fill: "none", stroke: style.color,
          "stroke-width": 2, "stroke-dasharray": style.dash }));
      }
      points = [];
    };
    for (const [t, v] of series[name]) {
      if (v === null) flush(); else points.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
    }
    flush();
  });
  const old = figure.querySelector("svg");
  if (old) old.remove();
  figure.insertBefore(svg, figure.querySelector(".summary"));
  // The numbers in words: readable without the picture or its colours.
  const legend = document.createElement("ul");
  legend.className = "legend";
  const words = [];
  names.forEach((name, i) => {
    const style = STYLES[i % STYLES.length];
    const values = series[name].map(([, v]) => v).filter((v) => v !== null);
    const latest = values.length ? values[values.length - 1] : null;
    const item = document.createElement("li");
    const key = el("svg", { width: 24, height: 8, "aria-hidden": "true" });
    key.appendChild(el("line", { x1: 0, x2: 24, y1: 4, y2: 4, stroke: style.color, "stroke-width": 2, "stroke-dasharray": style.dash }));
    item.appendChild(key);
    item.appendChild(document.createTextNode(` ${name}`));
    legend.appendChild(item);
    words.push(`${name}: latest ${format(latest)}, peak ${format(values.length ? Math.max(...values) : null)}`);
  });
  const oldLegend = figure.querySelector(".legend");
  if (oldLegend) oldLegend.remove();
  figure.insertBefore(legend, figure.querySelector(".summary"));
  figure.querySelector(".summary").textContent = names.length ? words.join("; ") : "No dynos reported yet.";
}

function drawAll(container, data) {
  const now = Math.floor(Date.now() / 1000);
  for (const figure of container.querySelectorAll("figure.graph")) {
    if (!data.available) {
      draw(figure, {}, now - 3600, now);
      figure.querySelector(".summary").textContent = data.error
        ? `The metrics could not be read: ${data.error}`
        : "No metrics are recorded for this app yet.";
      continue;
    }
    draw(figure, data[figure.dataset.graph] || {}, data.since, data.until);
  }
}

async function reload(container) {
  try {
    const response = await fetch(container.dataset.metrics, { credentials: "same-origin" });
    if (response.ok) drawAll(container, await response.json());
  } catch (error) {
    // The graphs drawn stay; the next minute tries again.
  }
}

function followLogs(pre) {
  const source = new EventSource(pre.dataset.logs);
  // A new stream (after the server ended the last) starts with the tail again.
  source.addEventListener("open", () => { pre.textContent = ""; });
  source.addEventListener("message", (event) => {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    pre.appendChild(document.createTextNode(event.data + "\n"));
    while (pre.childNodes.length > 500) pre.removeChild(pre.firstChild);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const graphs = document.querySelector("[data-metrics]");
  if (graphs) {
    // The page comes with its graphs' data: drawn at once.
    drawAll(graphs, JSON.parse(document.getElementById("graph-data").textContent));
    // The newest minute moves on: the graphs follow, once a minute.
    setInterval(() => reload(graphs), 60000);
  }
  const logs = document.querySelector("[data-logs]");
  if (logs) followLogs(logs);
});
