// Traffic charts: one object's last 15 minutes from the master's per-second
// history (GET /debug/traffic), drawn with uPlot (vendored under vendor/uplot,
// see web/README.md). A panel is made once per object and updated in place as
// the history is read again, so redrawing a view does not restart its charts.

import uPlot from "./vendor/uplot/uPlot.esm.js";

const CLASSES = [["2xx", "#1e7b34"], ["3xx", "#2357c6"], ["4xx", "#c77c02"], ["5xx", "#b3261e"]];
const PERCENTILES = [["p50", "#2357c6"], ["p90", "#c77c02"], ["p99", "#b3261e"]];
const PALETTE = ["#2357c6", "#1e7b34", "#c77c02", "#8e3fb5", "#b3261e", "#0f7c86", "#5b6575"];
const WIDTH = 520, HEIGHT = 170;
const WINDOW = 900; // seconds the master keeps

function box(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

// One chart: a title and a uPlot whose series are named by `labels`; made
// again only when the labels change (a new model or key shows up).
class Chart {
  constructor(parent, name, title, unit) {
    this.wrap = box("div", "chart");
    this.wrap.dataset.chart = name;
    this.wrap.append(box("div", "chart-title", title));
    parent.append(this.wrap);
    this.unit = unit;
    this.labels = null;
    this.plot = null;
  }
  set(times, columns) { // columns: [[label, color, values]]
    const labels = columns.map((c) => c[0]).join("\n");
    const data = [times, ...columns.map((c) => c[2])];
    if (labels !== this.labels) {
      if (this.plot) this.plot.destroy();
      this.labels = labels;
      const unit = this.unit;
      this.plot = new uPlot({
        width: WIDTH, height: HEIGHT,
        // Always the whole window, so a fresh history reads as "only the last minute so far".
        scales: { x: { time: true, range: (u, min, max) => [(max ?? Date.now() / 1000) - WINDOW, max ?? Date.now() / 1000] } },
        series: [{}, ...columns.map(([label, color]) => ({ label, stroke: color, width: 1.5, points: { show: false } }))],
        axes: [{}, { size: 60, values: (u, ticks) => ticks.map((v) => format(v) + (unit ? " " + unit : "")) }],
        legend: { live: true },
      }, data, this.wrap);
    } else {
      this.plot.setData(data);
    }
    // What a test or a curious operator can read without the canvas: seconds
    // with a non-zero value, and the largest value.
    let nonzero = 0, max = 0;
    for (const c of columns) for (const v of c[2]) if (v) { max = Math.max(max, v); }
    for (let i = 0; i < times.length; i++) if (columns.some((c) => c[2][i])) nonzero++;
    this.wrap.dataset.nonzero = String(nonzero);
    this.wrap.dataset.max = String(max);
  }
  remove() {
    if (this.plot) this.plot.destroy();
    this.wrap.remove();
  }
}

function format(v) {
  if (v === null || v === undefined) return "";
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return a >= 10 || v === 0 ? String(Math.round(v)) : v.toFixed(a >= 1 ? 1 : 2);
}

// The requests of the last `n` seconds: rate, share of 5xx and the largest p99.
function summary(doc, n = 10) {
  const from = Math.max(0, doc.time.length - n);
  let requests = 0, errors = 0, seconds = 0, p99 = null;
  for (let i = from; i < doc.time.length; i++) {
    seconds += doc.spanSeconds[i];
    for (const c of ["1xx", "2xx", "3xx", "4xx", "5xx"]) requests += doc.responses[c][i] || 0;
    errors += doc.responses["5xx"][i] || 0;
    const p = doc.latencySeconds.p99[i];
    if (p !== null && (p99 === null || p > p99)) p99 = p;
  }
  if (!seconds) return "no history yet";
  return "last " + seconds + " s: " + (requests / seconds).toFixed(1) + " req/s · " +
    (requests ? (100 * errors / requests).toFixed(1) : "0.0") + "% 5xx" +
    (p99 !== null ? " · p99 " + (p99 * 1000).toFixed(1) + " ms" : "");
}

export class TrafficPanel {
  constructor(id) {
    this.element = box("div", "traffic");
    this.element.dataset.traffic = id;
    this.head = box("div", "muted traffic-summary", "loading the last 15 minutes…");
    this.grid = box("div", "charts");
    this.element.append(this.head, this.grid);
    this.requests = new Chart(this.grid, "requests", "requests/s by status class", "");
    this.latency = new Chart(this.grid, "latency", "latency percentiles", "ms");
    this.tokens = null;
    this.keys = null;
  }
  update(doc) {
    const t = doc.time;
    const perSecond = (v, i) => (v === null || v === undefined ? null : v / (doc.spanSeconds[i] || 1));
    this.head.textContent = summary(doc) + (doc.series ? "" : " · not in the running configuration");
    this.requests.set(t, CLASSES.map(([c, color]) => [c, color, doc.responses[c].map(perSecond)]));
    this.latency.set(t, PERCENTILES.map(([p, color]) =>
      [p, color, doc.latencySeconds[p].map((v) => (v === null ? null : v * 1000))]));
    // LLM tokens and spending come with their own time columns (their samples
    // merge apart from the requests' when memory is short).
    const tokens = doc.tokens || { time: [], spanSeconds: [], byModel: {} };
    const tokenRate = (v, i) => v / (tokens.spanSeconds[i] || 1);
    const models = Object.entries(tokens.byModel);
    this.tokens = this.chart(this.tokens, models.length, "tokens", "LLM tokens/s by model (input + output)", (c) =>
      c.set(tokens.time, models.map(([m, col], k) =>
        [m, PALETTE[k % PALETTE.length], col.input.map((v, i) => tokenRate(v + col.output[i], i))])));
    // (the server sends the biggest spenders first; the chart has lines for the first few)
    const spending = doc.spending || { time: [], spanSeconds: [], byKey: [] };
    const keys = spending.byKey.slice(0, PALETTE.length);
    this.keys = this.chart(this.keys, keys.length, "keys", "aiBudget spending by key, per second", (c) =>
      c.set(spending.time, keys.map((k, n) => [k.key + " (" + k.unit + ")", PALETTE[n],
        k.spent.map((v, i) => (k.unit === "USD" ? v / 1e6 : v) / (spending.spanSeconds[i] || 1))])));
  }
  // A chart shown only while it has lines: made when they come, removed when
  // the last one has left the window (no frozen lines).
  chart(existing, lines, name, title, fill) {
    if (!lines) {
      if (existing) existing.remove();
      return null;
    }
    const c = existing || new Chart(this.grid, name, title, "");
    fill(c);
    return c;
  }
}
