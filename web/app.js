// The sluice dashboard: plain ES module, no build step. It speaks only the
// public admin API (the same calls curl and kubectl make), with the bearer
// token kept in sessionStorage and sent as a header (no cookies: no CSRF).

import { TrafficPanel } from "./charts.js";

const GW = "/apis/gateway.networking.k8s.io/v1";
const TOKEN_KEY = "sluice-token";
const main = document.getElementById("main");

// ---------------------------------------------------------------- API calls

function headers(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, Authorization: "Bearer " + token } : extra;
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const r = await fetch(path, { ...options, headers: headers(options.headers) });
  if (r.status === 401) {
    showLogin(sessionStorage.getItem(TOKEN_KEY) ? "The token was refused." : "");
    throw new Unauthorized(path);
  }
  return r;
}

// What a view reads from: a watch or a poll. stop() ends its stream (a browser
// keeps only a few connections per host: a view left behind must not hold any).
class Source {
  constructor(path, onChange) {
    this.path = path;
    this.onChange = onChange;
    this.stopped = false;
    this.up = false;
    this.aborter = new AbortController();
  }
  connected(on) {
    this.up = on;
    refreshLive();
  }
  stop() {
    this.stopped = true;
    this.aborter.abort();
    this.connected(false);
  }
}

// A watch of one collection: every object of it, kept current. The admin API
// answers a watch without resourceVersion with an ADDED event per object, then
// the changes; after a dropped stream it resumes from the last version seen,
// and starts over after 410 Gone (the version was compacted away).
class Collection extends Source {
  constructor(path, onChange) {
    super(path, onChange);
    this.items = new Map();
    this.version = "";
    this.run();
  }
  key(o) { return (o.metadata.namespace || "") + "/" + o.metadata.name; }
  async run() {
    let backoff = 500;
    while (!this.stopped) {
      try {
        const q = "?watch=1&allowWatchBookmarks=true" + (this.version ? "&resourceVersion=" + this.version : "");
        const r = await api(this.path + q, { signal: this.aborter.signal });
        if (r.status === 410) { // the version is gone (compacted, or a restarted store): start over
          this.version = "";
          this.items.clear();
          continue;
        }
        if (!r.ok) throw new Error(this.path + ": " + r.status);
        this.connected(true);
        backoff = 500;
        await this.read(r.body.getReader());
      } catch (e) {
        if (e instanceof Unauthorized || this.stopped) return; // the login restarts the page's watches
      }
      this.connected(false);
      await new Promise((ok) => setTimeout(ok, backoff));
      backoff = Math.min(backoff * 2, 8000);
    }
  }
  async read(reader) {
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || this.stopped) return;
      buffered += decoder.decode(value, { stream: true });
      let from = 0, nl;
      let changed = false;
      // (one pass over the chunk: slicing the rest off after each line would copy
      // megabytes thousands of times when 10,000 objects arrive at once)
      while ((nl = buffered.indexOf("\n", from)) >= 0) {
        const line = buffered.slice(from, nl).trim();
        from = nl + 1;
        if (line) changed = this.apply(JSON.parse(line)) || changed;
      }
      buffered = buffered.slice(from);
      if (changed) this.onChange(this);
    }
  }
  apply(ev) {
    const o = ev.object || {};
    if (ev.type === "ERROR") {
      if (o.code === 410) { this.version = ""; this.items.clear(); return true; }
      return false;
    }
    if (o.metadata && o.metadata.resourceVersion) this.version = o.metadata.resourceVersion;
    if (ev.type === "BOOKMARK") return false;
    if (ev.type === "DELETED") this.items.delete(this.key(o));
    else this.items.set(this.key(o), o);
    return true;
  }
}

// A document that has no watch (the running snapshot's backends), read again
// every `every` ms; keeps the previous reading so rates can be worked out.
class Poll extends Source {
  constructor(path, onChange, every = 2000) {
    super(path, onChange);
    this.data = null;
    this.previous = null;
    this.tick(every);
  }
  async tick(every) {
    while (!this.stopped) {
      try {
        const r = await api(this.path, { signal: this.aborter.signal });
        if (r.ok) {
          this.previous = this.data && { ...this.data, at: this.at };
          this.data = await r.json();
          this.at = Date.now();
          this.connected(true);
          this.onChange(this);
        } else {
          this.connected(false);
        }
      } catch (e) {
        if (e instanceof Unauthorized || this.stopped) return;
        this.connected(false);
      }
      await new Promise((ok) => setTimeout(ok, every));
    }
  }
}

// The header says "live" while every watch and poll of the view is connected.
function refreshLive() {
  const sources = current ? current.collections : [];
  const live = sources.length > 0 && sources.every((c) => c.up);
  const e = document.getElementById("live");
  e.textContent = !sources.length ? "" : live ? "live" : "connecting…";
  e.classList.toggle("on", live);
}

// ---------------------------------------------------------------- rendering helpers

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// Conditions whose False is the healthy state ("no conflict").
const NEGATIVE = new Set(["Conflicted", "Detached"]);

function conditions(list) {
  return (list || []).map((c) =>
    el("span", { class: "cond" + ((c.status === "True") !== NEGATIVE.has(c.type) ? "" : " false"),
                 title: (c.reason || "") + (c.message ? ": " + c.message : "") },
       c.type + (c.status === "True" ? "" : " " + c.status + " (" + (c.reason || "") + ")")));
}

const byName = (a, b) => (a.metadata.namespace + "/" + a.metadata.name).localeCompare(b.metadata.namespace + "/" + b.metadata.name);

// ---------------------------------------------------------------- views

const SLUICE = "/apis/gateway.sluice.dev/v1alpha1";

const views = {
  overview: {
    collections: [GW + "/gateways"],
    polls: ["/debug/workers"],
    render([gateways, workers]) {
      const list = [...gateways.items.values()].sort(byName);
      keepPanels(new Set(list.map((g) => "Gateway/" + g.metadata.namespace + "/" + g.metadata.name)));
      if (!list.length) return el("p", { class: "muted" }, "No Gateway yet.");
      const running = new Map(((workers.data || {}).gateways || []).map((w) => [w.gateway, w]));
      const before = new Map(((workers.previous || {}).gateways || []).map((w) => [w.gateway, w]));
      const seconds = workers.previous ? (workers.at - workers.previous.at) / 1000 : 0;
      const bounds = (workers.data || {}).latencyBoundsSeconds || [];
      return list.map((g) => {
        const st = g.status || {};
        const key = g.metadata.namespace + "/" + g.metadata.name;
        const listenerStatus = new Map((st.listeners || []).map((l) => [l.name, l]));
        return el("section", { class: "card", "data-gateway": g.metadata.namespace + "/" + g.metadata.name },
          el("h3", {}, g.metadata.namespace + "/" + g.metadata.name + " ",
             el("span", { class: "muted" }, "class " + g.spec.gatewayClassName), " ",
             editLink(g, GW + "/namespaces/" + g.metadata.namespace + "/gateways/" + g.metadata.name)),
          el("div", {}, conditions(st.conditions)),
          el("div", { class: "runtime", "data-runtime": key }, runtimeText(running.get(key), before.get(key), seconds, bounds)),
          el("table", {},
            el("tr", {}, ["listener", "port", "protocol", "hostname", "attached routes", "conditions"].map((h) => el("th", {}, h))),
            (g.spec.listeners || []).map((l) => {
              const ls = listenerStatus.get(l.name) || {};
              return el("tr", {},
                el("td", {}, l.name), el("td", {}, String(l.port)), el("td", {}, l.protocol),
                el("td", {}, l.hostname || "*"), el("td", {}, String(ls.attachedRoutes ?? "")),
                el("td", {}, conditions(ls.conditions)));
            })),
          trafficPanel("Gateway", g.metadata.namespace, g.metadata.name));
      });
    },
  },
  backends: {
    polls: ["/debug/backends"],
    render([poll]) {
      const list = (poll.data && poll.data.backends) || [];
      if (!poll.data) return el("p", { class: "muted" }, "loading…");
      if (!list.length) return el("p", { class: "muted" }, "No backend in the running configuration.");
      const before = new Map(((poll.previous && poll.previous.backends) || []).map((b) => [backendKey(b), b]));
      const seconds = poll.previous ? (poll.at - poll.previous.at) / 1000 : 0;
      return list.map((b) => {
        const t = b.traffic || { responses: {} };
        const old = (before.get(backendKey(b)) || {}).traffic;
        const rate = old && seconds > 0 && t.attempts >= old.attempts
          ? ((t.attempts - old.attempts) / seconds).toFixed(1) + " attempts/s" : ""; // (a reset: no rate this time)
        return el("section", { class: "card", "data-backend": backendKey(b) },
          el("h3", {}, backendKey(b) + " ", el("span", { class: "muted" }, b.loadBalancer + (b.policy ? ", policy " + b.policy : "") +
             (b.healthCheck ? ", health checked" : "")), " ", trafficLink(b.kind, b.namespace, b.name)),
          el("div", { class: "muted" }, "attempts " + (t.attempts ?? "–") + (rate ? " (" + rate + ")" : "") +
             ", 2xx " + (t.responses["2xx"] ?? 0) + ", 4xx " + (t.responses["4xx"] ?? 0) + ", 5xx " + (t.responses["5xx"] ?? 0) +
             ", connect errors " + (t.connectErrors ?? 0) + ", timeouts " + (t.timeouts ?? 0) +
             ", in flight " + (b.activeRequests ?? 0)),
          el("table", {},
            el("tr", {}, ["endpoint", "weight", "health", "usable", "ejected", "in flight", "requests", "failures"].map((h) => el("th", {}, h))),
            b.endpoints.map((e) => el("tr", { "data-endpoint": e.address },
              el("td", {}, e.address), el("td", {}, String(e.weight)),
              el("td", { class: e.health === "Unhealthy" ? "error" : "" }, e.health || e.state || ""),
              el("td", { class: e.usable === false ? "error" : "" }, String(e.usable ?? "")),
              el("td", {}, e.ejected ? "for " + Math.ceil(e.ejectedForMs / 1000) + " s" : "no"),
              el("td", {}, String(e.activeRequests ?? "")), el("td", {}, String(e.requests ?? "")),
              el("td", {}, String(e.failures ?? ""))))));
      });
    },
  },
  policies: {
    collections: [SLUICE + "/trafficpolicies"],
    render([policies]) {
      const list = [...policies.items.values()].sort(byName);
      this.form = this.form || this.effectiveForm(); // kept across renders: what was typed stays
      return [
        el("table", { id: "policies" },
          el("tr", {}, ["policy", "targets", "sections", "status per Gateway"].map((h) => el("th", {}, h))),
          list.map((p) => el("tr", { "data-policy": p.metadata.namespace + "/" + p.metadata.name },
            el("td", {}, p.metadata.namespace + "/" + p.metadata.name, " ",
               editLink(p, SLUICE + "/namespaces/" + p.metadata.namespace + "/trafficpolicies/" + p.metadata.name)),
            el("td", {}, (p.spec.targetRefs || []).map((t) => t.kind + "/" + t.name + (t.sectionName ? "/" + t.sectionName : "")).join(", ")),
            el("td", {}, Object.keys(p.spec).filter((k) => k !== "targetRefs").join(", ")),
            el("td", {}, ((p.status || {}).ancestors || []).map((a) => el("div", {},
              (a.ancestorRef.namespace || p.metadata.namespace) + "/" + a.ancestorRef.name + " ", conditions(a.conditions))))))),
        el("h3", {}, "Which sections apply to a route, and from where"),
        ...this.form,
      ];
    },
    effectiveForm() {
      const kind = el("select", { id: "eff-kind" }, ["HTTPRoute", "GRPCRoute"].map((k) => el("option", { value: k }, k)));
      const ns = el("input", { id: "eff-ns", placeholder: "namespace", value: "default" });
      const name = el("input", { id: "eff-name", placeholder: "route name" });
      const go = el("button", { id: "eff-go" }, "Effective policy");
      const result = el("div", { id: "eff-result" });
      go.addEventListener("click", async () => {
        const q = "?kind=" + encodeURIComponent(kind.value) + "&namespace=" + encodeURIComponent(ns.value) +
          "&name=" + encodeURIComponent(name.value);
        const r = await api("/debug/effective-policy" + q);
        const doc = await r.json();
        if (!r.ok) { result.replaceChildren(el("p", { class: "error" }, doc.message || String(r.status))); return; }
        result.replaceChildren(el("table", {},
          el("tr", {}, ["Gateway / listener", "rule", "section", "phase", "from policy"].map((h) => el("th", {}, h))),
          (doc.attachments || []).flatMap((a) => (a.policies.length ? a.policies : [{ section: "(none)", phase: "", policy: "" }])
            .map((p) => el("tr", { "data-section": p.section }, el("td", {}, a.gateway + " / " + a.listener),
              el("td", {}, String(a.rule)), el("td", {}, p.section), el("td", {}, p.phase), el("td", {}, p.policy))))));
      });
      return [el("div", { class: "filters" }, kind, ns, name, go), result];
    },
  },
  routes: {
    collections: [GW + "/httproutes", GW + "/grpcroutes"],
    filter: { text: "", gateway: "" },
    render([http, grpc]) {
      const all = [...http.items.values(), ...grpc.items.values()].sort(byName);
      const f = this.filter;
      const gateways = [...new Set(all.flatMap((r) => (r.spec.parentRefs || []).map((p) => p.name)))].sort();
      const text = f.text.toLowerCase();
      const shown = all.filter((r) => {
        if (f.gateway && !(r.spec.parentRefs || []).some((p) => p.name === f.gateway)) return false;
        if (!text) return true;
        return searchText(r).includes(text);
      });
      const LIMIT = 500; // the table stays quick with 10,000 routes: the filter narrows it
      const search = el("input", { type: "search", placeholder: "filter: namespace, name, hostname, path", value: f.text, id: "route-filter" });
      search.addEventListener("input", () => { f.text = search.value; rerender(); });
      const pick = el("select", { id: "route-gateway" }, el("option", { value: "" }, "every Gateway"),
                      gateways.map((g) => el("option", { value: g, selected: g === f.gateway }, g)));
      pick.addEventListener("change", () => { f.gateway = pick.value; rerender(); });
      return [
        el("div", { class: "filters" }, search, pick,
           el("span", { class: "muted", id: "route-count" }, shown.length + " of " + all.length + " routes" +
              (shown.length > LIMIT ? " (first " + LIMIT + " shown)" : ""))),
        el("table", { id: "routes" },
          el("tr", {}, ["kind", "route", "hostnames", "matches", "filters", "backends", "parents"].map((h) => el("th", {}, h))),
          shown.slice(0, LIMIT).map(routeRow)),
      ];
    },
  },
};

// A Gateway's worker group and its traffic over the last poll interval:
// requests/s, the share of 5xx answers and the 99th percentile of the latency
// (the upper bound of the histogram bucket it falls in).
function runtimeText(now, before, seconds, bounds) {
  if (!now) return "no worker running";
  const pids = now.workers.map((w) => w.pid + " (generation " + w.generation + ")").join(", ");
  let traffic = "";
  const sumOf = (r) => Object.values(r.responses).reduce((a, b) => a + b, 0);
  if (before && seconds > 0 && sumOf(now) >= sumOf(before)) { // (counters restart with a worker: no rate this time)
    const sum = (r) => Object.values(r.responses).reduce((a, b) => a + b, 0);
    const answered = sum(now) - sum(before);
    const errors = now.responses["5xx"] - before.responses["5xx"];
    const delta = now.latencyBuckets.map((v, i) => v - before.latencyBuckets[i]);
    const total = delta.reduce((a, b) => a + b, 0);
    let p99 = "";
    if (total > 0) {
      let seen = 0, i = 0;
      for (; i < delta.length; i++) { seen += delta[i]; if (seen >= 0.99 * total) break; }
      p99 = i < bounds.length ? "≤ " + (bounds[i] * 1000) + " ms" : "> " + (bounds[bounds.length - 1] * 1000) + " ms";
    }
    traffic = (answered / seconds).toFixed(1) + " req/s, " + (answered ? (100 * errors / answered).toFixed(1) : "0.0") +
      "% 5xx" + (p99 ? ", p99 " + p99 : "") + " · ";
  }
  return traffic + "workers " + pids + " · " + (now.restarts || 0) + " restarts · " + now.connectionsOpen + " connections open";
}

function backendKey(b) { return b.kind + "/" + b.namespace + "/" + b.name + (b.port ? ":" + b.port : ""); }

function searchText(r) {
  if (!r._search) {
    const rules = r.spec.rules || [];
    r._search = [r.metadata.namespace, r.metadata.name, ...(r.spec.hostnames || []),
      ...rules.flatMap((x) => (x.matches || []).map((m) => (m.path && m.path.value) || (m.method && m.method.service) || ""))]
      .join(" ").toLowerCase();
  }
  return r._search;
}

function routeRow(r) {
  const rules = r.spec.rules || [];
  const matches = rules.flatMap((x) => (x.matches || [{}]).map((m) =>
    m.path ? (m.path.type || "PathPrefix") + " " + m.path.value
      : m.method ? "gRPC " + (m.method.service || "*") + "/" + (m.method.method || "*") : "PathPrefix /"));
  const backends = rules.flatMap((x) => (x.backendRefs || []).map((b) =>
    (b.kind && b.kind !== "Service" ? b.kind + "/" : "") + b.name + (b.port ? ":" + b.port : "") +
    (b.weight !== undefined ? " (weight " + b.weight + ")" : "")));
  // Filters by kind, with what they set where that fits in a word or two.
  const filterText = (f) => {
    const field = { URLRewrite: "urlRewrite", CORS: "cors" }[f.type] || (f.type ? f.type[0].toLowerCase() + f.type.slice(1) : "");
    const x = f[field] || {};
    if (f.type === "RequestRedirect") return "redirect " + (x.statusCode || 302) + (x.hostname ? " to " + x.hostname : "");
    if (f.type === "URLRewrite") return "rewrite " + ((x.path && (x.path.replaceFullPath || x.path.replacePrefixMatch)) || x.hostname || "");
    if (f.type === "RequestMirror") return "mirror to " + ((x.backendRef || {}).name || "");
    if (f.type === "ExtensionRef") return "extension " + (f.extensionRef || {}).kind + "/" + (f.extensionRef || {}).name;
    return f.type || "?";
  };
  const filters = rules.flatMap((x) => [...(x.filters || []), ...(x.backendRefs || []).flatMap((b) => b.filters || [])]).map(filterText);
  const parents = ((r.status || {}).parents || []).map((p) => el("div", {},
    (p.parentRef.namespace || r.metadata.namespace) + "/" + p.parentRef.name + (p.parentRef.sectionName ? "/" + p.parentRef.sectionName : "") + " ",
    conditions(p.conditions)));
  return el("tr", { "data-route": r.metadata.namespace + "/" + r.metadata.name },
    el("td", {}, r.kind), el("td", {}, r.metadata.namespace + "/" + r.metadata.name, " ",
      editLink(r, GW + "/namespaces/" + r.metadata.namespace + "/" + r.kind.toLowerCase() + "s/" + r.metadata.name), " ",
      trafficLink(r.kind, r.metadata.namespace, r.metadata.name)),
    el("td", {}, (r.spec.hostnames || ["*"]).join(", ")), el("td", {}, matches.join(", ")),
    el("td", { class: "filters-cell" }, [...new Set(filters)].join(", ")),
    el("td", {}, backends.join(", ")), el("td", {}, parents));
}

// ---------------------------------------------------------------- the access log

// #/logs: the Gateways' last requests (GET /debug/access-log: every worker
// keeps its last 256, whatever the access log is set to), read every second,
// newest first; filtered by Gateway, status (a code or a class) and route.
views.logs = {
  collections: [GW + "/gateways"],
  filter: { gateway: "", status: "", route: "" },
  render([gateways]) {
    const f = this.filter;
    const query = "?limit=200" + ["gateway", "status", "route"].map((k) => f[k] ? "&" + k + "=" + encodeURIComponent(f[k]) : "").join("");
    if (!this.poll || this.poll.stopped || this.poll.path !== "/debug/access-log" + query) {
      if (this.poll) dropSource(this.poll);
      this.poll = new Poll("/debug/access-log" + query, scheduleRender, 1000);
      current.collections.push(this.poll);
    }
    const names = [...gateways.items.values()].sort(byName).map((g) => g.metadata.namespace + "/" + g.metadata.name);
    const pick = el("select", { id: "log-gateway" }, el("option", { value: "" }, "every Gateway"),
                    names.map((g) => el("option", { value: g, selected: g === f.gateway }, g)));
    const status = el("select", { id: "log-status" }, ["", "2xx", "3xx", "4xx", "5xx"].map((c) =>
      el("option", { value: c, selected: c === f.status }, c || "any status")));
    if (f.status && !["2xx", "3xx", "4xx", "5xx"].includes(f.status)) status.append(el("option", { value: f.status, selected: true }, f.status));
    // What is typed is kept across the redraws the poll causes every second
    // (drafts); it applies on Enter or leaving the box.
    const code = el("input", { id: "log-code", placeholder: "or a code: 404", size: 12, value: f.codeDraft ?? "" });
    const route = el("input", { id: "log-route", placeholder: "route: namespace/name", value: f.routeDraft ?? f.route });
    pick.addEventListener("change", () => { f.gateway = pick.value; rerender(); });
    status.addEventListener("change", () => { f.status = status.value; f.codeDraft = ""; f.error = ""; rerender(); });
    code.addEventListener("input", () => { f.codeDraft = code.value; });
    code.addEventListener("change", () => {
      const v = code.value.trim();
      f.error = v && !/^[1-5][0-9][0-9]$/.test(v) ? "a status code is three digits, from 100 to 599" : "";
      if (!f.error) f.status = v;
      rerender();
    });
    route.addEventListener("input", () => { f.routeDraft = route.value; });
    route.addEventListener("change", () => { f.route = route.value.trim(); rerender(); });
    const data = this.poll.data;
    const lines = data ? [...data.lines].reverse() : [];
    const time = (ms) => new Date(ms).toISOString().slice(11, 23);
    return [
      el("div", { class: "filters" }, pick, status, code, route,
         el("span", { class: "muted", id: "log-count" }, data ? lines.length + " requests (newest first)" : "loading…")),
      f.error ? el("p", { class: "error", id: "log-error" }, f.error) : null,
      el("table", { id: "log-lines" },
        el("tr", {}, ["time (UTC)", "status", "request", "route", "upstream", "ms", "bytes", "client", "Gateway"].map((h) => el("th", {}, h))),
        lines.map((l) => el("tr", { "data-status": String(l.status), class: l.status >= 500 ? "error" : "" },
          el("td", {}, time(l.msec)), el("td", {}, String(l.status)),
          el("td", { class: "request" }, l.method + " " + l.host + l.path),
          el("td", {}, l.route), el("td", {}, l.upstream), el("td", {}, String(l.duration_ms)),
          el("td", {}, String(l.bytes_sent)), el("td", {}, l.client), el("td", {}, l.gateway)))),
    ];
  },
};

// ---------------------------------------------------------------- traffic charts

// The charts of one object (charts.js), made once per view and fed by a poll
// of its history every 2 s; the poll is one of the view's sources, stopped
// when the view goes.
const panels = new Map();

function trafficPanel(kind, ns, name) {
  const id = kind + "/" + ns + "/" + name;
  let p = panels.get(id);
  if (!p) {
    const panel = new TrafficPanel(id);
    const q = "?kind=" + encodeURIComponent(kind) + "&namespace=" + encodeURIComponent(ns) + "&name=" + encodeURIComponent(name);
    const poll = new Poll("/debug/traffic" + q, (src) => panel.update(src.data), 2000);
    if (current) current.collections.push(poll);
    p = { panel, poll };
    panels.set(id, p);
  }
  return p.panel.element;
}

// A source the view no longer reads: stopped, and out of the header's "live".
function dropSource(src) {
  src.stop();
  if (current) current.collections = current.collections.filter((c) => c !== src);
  refreshLive();
}

// The panels of objects a view no longer shows (a Gateway deleted while the
// Overview is open) stop reading their history.
function keepPanels(ids) {
  for (const [id, p] of panels) {
    if (ids.has(id)) continue;
    dropSource(p.poll);
    panels.delete(id);
  }
}

function trafficLink(kind, ns, name) {
  return el("a", { href: "#/traffic/" + [kind, ns, name].map(encodeURIComponent).join("/"), class: "edit",
                   title: "requests, latency and errors of the last 15 minutes" }, "traffic");
}

// #/traffic/<kind>/<namespace>/<name>: one route's or backend's charts.
views.traffic = {
  render() {
    const [kind, ns, name] = location.hash.slice("#/traffic/".length).split("/").map(decodeURIComponent);
    if (!kind || !ns || !name) return el("p", { class: "error" }, "expected #/traffic/KIND/NAMESPACE/NAME");
    return [el("h3", {}, kind + " " + ns + "/" + name), trafficPanel(kind, ns, name)];
  },
};

// ---------------------------------------------------------------- the YAML editor

// #/edit/<API path of an object>: its YAML (the API answers Accept:
// application/yaml), checked by the server as you type (a PUT with
// ?dryRun=All after each pause: the same validation as a real write, nothing
// stored), saved with a PUT, deleted after a confirmation.
const editor = {
  collections: [],
  render() {
    const path = "/" + decodeURIComponent(location.hash.slice("#/edit/".length));
    if (!/^\/apis?\//.test(path)) return el("p", { class: "error" }, "not an API path: " + path); // (never another host)
    // Drawn once per object: a render for another reason must not throw away an edit.
    if (this.shown && this.shown.path === path && this.shown.hash === location.hash) return this.shown.dom;
    const text = el("textarea", { id: "yaml", spellcheck: false, rows: 30 });
    const status = el("div", { id: "edit-status", class: "muted" }, "loading…");
    const problems = el("ul", { id: "edit-errors", class: "error" });
    const save = el("button", { id: "edit-save", disabled: true }, "Save");
    const del = el("button", { id: "edit-delete" }, "Delete");
    const reload = el("button", { id: "edit-reload" }, "Reload");
    let timer = null, checked = "", base = null; // base: the object as loaded (JSON)
    const say = (msg, cls = "muted") => {
      status.className = cls;
      status.textContent = msg;
      if (msg !== "checking…") lastSaid = [msg, cls];
    };
    let lastSaid = ["", "muted"];
    async function load(message = "as stored", cls = "muted") {
      // The object as JSON (the baseline a later 409 is judged against) and as
      // YAML, read again until both are the same version.
      for (let attempt = 0; attempt < 5; attempt++) {
        const j = await api(path);
        const r = await api(path, { headers: { Accept: "application/yaml" } });
        if (!j.ok || !r.ok) { say("cannot read " + path + ": " + (j.ok ? r.status : j.status), "error"); return; }
        base = await j.json();
        text.value = await r.text();
        if (text.value.includes('resourceVersion: "' + base.metadata.resourceVersion + '"')) break;
      }
      problems.replaceChildren();
      checked = text.value;
      const file = ((base.metadata || {}).annotations || {})["sluice.dev/config-file"];
      save.disabled = !!file;
      del.disabled = !!file;
      if (file) say("This object comes from " + file + " (--config-dir): change the file; the page only checks.", "error");
      else say(message, cls);
    }
    function showStatus(doc, what) {
      showCauses(problems, text.value, doc);
      if (doc.code === 409 && /has been modified/.test(doc.message || "")) {
        say("The object changed since you opened it (409): reload to edit the current version.", "error");
      } else {
        say(what + ": " + (doc.message || doc.reason || doc.code), "error");
      }
    }
    // What an edit is about: the object without its version and status.
    const essence = (o) => {
      const { resourceVersion, generation, managedFields, ...meta } = o.metadata || {};
      return JSON.stringify({ meta, spec: o.spec });
    };
    // A 409 because only the object's status moved on (the controller writes it
    // as the configuration goes live): take the new version and go on. A real
    // change by someone else stays a conflict for the user to resolve.
    async function rebase() {
      const r = await api(path);
      if (!r.ok || !base) return false;
      const current = await r.json();
      if (essence(current) !== essence(base)) return false;
      text.value = text.value.replace(/resourceVersion: "?\d+"?/, 'resourceVersion: "' + current.metadata.resourceVersion + '"');
      checked = text.value;
      base = current;
      return true;
    }
    async function put(dry, again = true) {
      const body = text.value;
      const r = await api(path + (dry ? "?dryRun=All" : ""), {
        method: "PUT", body, headers: { "Content-Type": "application/yaml", Accept: "application/json" } });
      if (body !== text.value) return; // typed on meanwhile: a newer check follows
      if (r.status === 409 && again && await rebase()) return put(dry, false);
      const doc = await r.json().catch(() => ({}));
      if (r.ok) {
        problems.replaceChildren();
        if (dry) say("valid (checked by the server, nothing stored)");
        else await load("saved (resourceVersion " + doc.metadata.resourceVersion + ")", "ok"); // with its new version
        return;
      }
      showStatus(doc, dry ? "invalid" : "not saved");
    }
    text.addEventListener("input", () => {
      clearTimeout(timer);
      if (text.value === checked) { say(...lastSaid); return; } // back to what was checked last
      say("checking…");
      timer = setTimeout(() => { if (text.value !== checked) { checked = text.value; put(true); } }, 400);
    });
    save.addEventListener("click", () => put(false));
    reload.addEventListener("click", () => load());
    del.addEventListener("click", async () => {
      if (!confirm("Delete " + path + "?")) return;
      const r = await api(path, { method: "DELETE" });
      if (r.ok) { say("deleted", "ok"); text.value = ""; save.disabled = true; }
      else showStatus(await r.json().catch(() => ({})), "not deleted");
    });
    load();
    const dom = [el("h3", {}, path), el("div", { class: "filters" }, save, reload, del, status), problems, text];
    this.shown = { path, hash: location.hash, dom };
    return dom;
  },
};
views.edit = editor;

// A Status answer's causes, each with the line of its field in the YAML text.
function showCauses(list, text, doc) {
  const causes = (doc.details && doc.details.causes) || [];
  list.replaceChildren(...causes.map((c) => {
    const line = lineOfField(text, c.field || "");
    return el("li", { "data-field": c.field || "", "data-line": line > 0 ? String(line) : "" },
      (line > 0 ? "line " + line + ": " : "") + (c.field ? c.field + ": " : "") + c.message);
  }));
}

// ---------------------------------------------------------------- creating objects

const TEMPLATES = {
  HTTPRoute: `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: my-route
  namespace: default
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /
    backendRefs:
    - name: my-service
      port: 80
`,
  Gateway: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: my-gateway
  namespace: default
spec:
  gatewayClassName: sluice
  listeners:
  - name: http
    protocol: HTTP
    port: 8080
`,
  Backend: `apiVersion: gateway.sluice.dev/v1alpha1
kind: Backend
metadata:
  name: my-backend
  namespace: default
spec:
  type: Static
  static:
    hosts:
    - host: 127.0.0.1
      port: 9000
`,
  TrafficPolicy: `apiVersion: gateway.sluice.dev/v1alpha1
kind: TrafficPolicy
metadata:
  name: my-policy
  namespace: default
spec:
  targetRefs:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    name: my-route
  rateLimit:
    requests: 100
    unit: Second
`,
  Service: `apiVersion: v1
kind: Service
metadata:
  name: my-service
  namespace: default
spec:
  ports:
  - port: 80
`,
};

// The collection an object's YAML text belongs to, found through the API's
// discovery (the same documents kubectl reads), or an error message.
const discovered = new Map();
async function collectionOf(text) {
  const top = (key) => ((text.match(new RegExp("^" + key + ":[ \\t]*(\\S+)", "m")) || [])[1] || "").replace(/^["']|["']$/g, "");
  const meta = (text.match(/^metadata:[ \t]*\n((?:[ \t]+.*(?:\n|$)|\s*\n)*)/m) || [])[1] || "";
  const field = (key) => ((meta.match(new RegExp("^[ \\t]+" + key + ":[ \\t]*(\\S+)", "m")) || [])[1] || "").replace(/^["']|["']$/g, "");
  const apiVersion = top("apiVersion"), kind = top("kind"), ns = field("namespace") || "default";
  if (!apiVersion || !kind) return { error: "the YAML needs apiVersion and kind" };
  const root = apiVersion.includes("/") ? "/apis/" + apiVersion : "/api/" + apiVersion;
  if (!discovered.has(root)) {
    const r = await api(root);
    discovered.set(root, r.ok ? (await r.json()).resources || [] : null);
  }
  const res = (discovered.get(root) || []).find((x) => x.kind === kind && !x.name.includes("/"));
  if (!res) { discovered.delete(root); return { error: "this API has no kind " + kind + " in " + apiVersion }; }
  return { path: root + (res.namespaced ? "/namespaces/" + encodeURIComponent(ns) : "") + "/" + res.name };
}

// #/new: an object written as YAML from a template, checked by the server on
// every pause (POST ?dryRun=All: the whole validation, nothing stored), then
// created; the page then opens its editor.
views.new = {
  render() {
    if (this.dom) return this.dom;
    const kind = el("select", { id: "new-kind" }, Object.keys(TEMPLATES).map((k) => el("option", { value: k }, k)));
    const text = el("textarea", { id: "yaml", spellcheck: false, rows: 24, value: TEMPLATES.HTTPRoute });
    const status = el("div", { id: "new-status", class: "muted" }, "a new HTTPRoute: change it, then Create");
    const problems = el("ul", { id: "edit-errors", class: "error" });
    const create = el("button", { id: "new-create" }, "Create");
    const say = (msg, cls = "muted") => { status.className = cls; status.textContent = msg; };
    let timer = null;
    async function post(dry) {
      const body = text.value;
      const where = await collectionOf(body);
      if (where.error) { problems.replaceChildren(); say(where.error, "error"); return; }
      const r = await api(where.path + (dry ? "?dryRun=All" : ""), {
        method: "POST", body, headers: { "Content-Type": "application/yaml", Accept: "application/json" } });
      if (body !== text.value) return; // typed on meanwhile: a newer check follows
      const doc = await r.json().catch(() => ({}));
      if (!r.ok) {
        showCauses(problems, body, doc);
        say((dry ? "invalid: " : "not created: ") + (doc.message || doc.reason || r.status), "error");
        return;
      }
      problems.replaceChildren();
      if (dry) { say("valid (checked by the server, nothing stored)"); return; }
      views.new.dom = null; // the next #/new starts afresh
      location.hash = "#/edit" + where.path + "/" + encodeURIComponent(doc.metadata.name);
    }
    kind.addEventListener("change", () => {
      text.value = TEMPLATES[kind.value];
      problems.replaceChildren();
      say("a new " + kind.value + ": change it, then Create");
    });
    text.addEventListener("input", () => {
      clearTimeout(timer);
      say("checking…");
      timer = setTimeout(() => post(true), 400);
    });
    create.addEventListener("click", () => post(false));
    this.dom = [el("h3", {}, "New object"), el("div", { class: "filters" }, kind, create, status), problems, text];
    return this.dom;
  },
};

// The line (from 1) of a field path ("spec.rules[0].matches[0].path.value") in
// a YAML text written in the block style the API writes (sequences may sit at
// their key's indentation); 0 when it cannot be found.
function lineOfField(text, field) {
  const lines = text.split("\n");
  // "a.b[0].c" and "metadata.annotations[sluice.dev/x]": a bracket is an index
  // when it holds digits, else one key (which may hold dots).
  const segs = (field.match(/\[[^\]]*\]|[^.[\]]+/g) || []).map((x) =>
    x.startsWith("[") && !/^\[\d+\]$/.test(x) ? x.slice(1, -1) : x);
  const indent = (l) => l.search(/\S/);
  let from = 0, block = -1, afterKey = false, found = 0;
  // Lines of a block scalar (after "key: |" or "key: >") are text, not keys.
  const scalarText = new Set();
  for (let i = 0, open = -1; i < lines.length; i++) {
    const l = lines[i];
    if (open >= 0 && (!l.trim() || indent(l) > open)) { scalarText.add(i); continue; }
    open = /:\s*[|>][-+0-9]*\s*$/.test(l) ? indent(l.replace(/^(\s*)-\s+/, "$1  ")) : -1;
  }
  const inBlock = (l, i, itemLine) => i === itemLine || indent(l) > block ||
    (afterKey && indent(l) === block && l.trim().startsWith("- "));
  for (const seg of segs) {
    let hit = -1;
    const itemLine = afterKey ? -1 : from; // only an item's own "- " line is part of its block
    if (/^\[\d+\]$/.test(seg)) {
      const want = Number(seg.slice(1, -1));
      let col = -1, count = -1;
      for (let i = from; i < lines.length; i++) {
        const l = lines[i];
        if (!l.trim() || l.trim().startsWith("#") || scalarText.has(i)) continue;
        if (!inBlock(l, i, -1)) break;
        if (col < 0 && l.trim().startsWith("- ")) col = indent(l);
        if (col >= 0 && indent(l) === col && l.trim().startsWith("- ") && ++count === want) { hit = i; break; }
      }
      if (hit < 0) return found;
      from = hit; block = col; afterKey = false;
    } else {
      for (let i = from; i < lines.length; i++) {
        const l = lines[i];
        if (!l.trim() || l.trim().startsWith("#") || scalarText.has(i)) continue;
        if (!inBlock(l, i, itemLine)) break;
        const m = l.match(/^(\s*(?:-\s+)*)(.*)$/); // indentation and "- " marks, then the key
        const col = m[1].length, key = m[2];
        if (col > block && (key.startsWith(seg + ":") || key.startsWith('"' + seg + '":'))) { hit = i; block = col; break; }
      }
      if (hit < 0) return found;
      from = hit + 1; afterKey = true;
    }
    found = hit + 1;
  }
  return found;
}

function editLink(o, path) {
  return el("a", { href: "#/edit" + path, class: "edit", title: "edit as YAML" }, "edit");
}

// ---------------------------------------------------------------- navigation

let current = null; // { view, collections }

let renderCost = 0, renderedAt = 0; // how long the last render took, and when it ended (ms)

function rerender() {
  if (!current) return;
  const started = performance.now();
  const focused = document.activeElement && document.activeElement.id;
  const at = focused && document.activeElement.selectionStart;
  main.replaceChildren(...[current.view.render(current.collections)].flat());
  if (focused && document.getElementById(focused)) { // typing in the filter goes on where it was
    const e = document.getElementById(focused);
    e.focus();
    if (at !== undefined && e.setSelectionRange) e.setSelectionRange(at, at);
  }
  renderedAt = performance.now();
  renderCost = renderedAt - started;
}

// Changes that come in a stream (10,000 routes' status being written) are drawn
// at most once per frame, and no more often than four times the last render's
// cost allows, so typing in a filter stays quick while the page follows along.
let pending = false;
function scheduleRender() {
  if (pending) return;
  pending = true;
  const wait = Math.max(0, Math.min(2000, renderCost * 4) - (performance.now() - renderedAt));
  setTimeout(() => requestAnimationFrame(() => { pending = false; rerender(); }), wait);
}

function show() {
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || "overview";
  const view = views[name] || views.overview;
  if (current) current.collections.forEach((c) => c.stop());
  panels.clear();
  editor.shown = null; // a navigation opens the object afresh
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
  current = { view, collections: [...(view.collections || []).map((p) => new Collection(p, scheduleRender)),
                                  ...(view.polls || []).map((p) => new Poll(p, scheduleRender))] };
  refreshLive();
  rerender();
}

// ---------------------------------------------------------------- login

function showLogin(message) {
  const d = document.getElementById("login");
  document.getElementById("login-error").textContent = message || "";
  if (!d.open) d.showModal();
}

document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = document.getElementById("token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  const r = await fetch(GW + "/gateways?limit=1", { headers: headers() });
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    document.getElementById("login-error").textContent = "The token was refused.";
    return;
  }
  document.getElementById("login").close();
  document.getElementById("logout").hidden = false;
  show();
});

document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

document.getElementById("logout").hidden = !sessionStorage.getItem(TOKEN_KEY);
window.addEventListener("hashchange", show);
show();
