// The sluice dashboard: plain ES module, no build step. It speaks only the
// public admin API (the same calls curl and kubectl make), with the bearer
// token kept in sessionStorage and sent as a header (no cookies: no CSRF).

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

// A watch of one collection: every object of it, kept current. The admin API
// answers a watch without resourceVersion with an ADDED event per object, then
// the changes; after a dropped stream it resumes from the last version seen,
// and starts over after 410 Gone (the version was compacted away).
class Collection {
  constructor(path, onChange) {
    this.path = path;
    this.onChange = onChange;
    this.items = new Map();
    this.version = "";
    this.stopped = false;
    this.run();
  }
  key(o) { return (o.metadata.namespace || "") + "/" + o.metadata.name; }
  async run() {
    let backoff = 500;
    while (!this.stopped) {
      try {
        const q = "?watch=1&allowWatchBookmarks=true" + (this.version ? "&resourceVersion=" + this.version : "");
        const r = await api(this.path + q);
        if (!r.ok) throw new Error(this.path + ": " + r.status);
        setLive(true);
        backoff = 500;
        await this.read(r.body.getReader());
      } catch (e) {
        if (e instanceof Unauthorized) return; // the login restarts the page's watches
      }
      setLive(false);
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
      let nl;
      let changed = false;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) changed = this.apply(JSON.parse(line)) || changed;
      }
      if (changed) this.onChange(this);
    }
  }
  apply(ev) {
    const o = ev.object || {};
    if (ev.type === "ERROR") {
      if (o.code === 410) { this.version = ""; this.items.clear(); }
      return false;
    }
    if (o.metadata && o.metadata.resourceVersion) this.version = o.metadata.resourceVersion;
    if (ev.type === "BOOKMARK") return false;
    if (ev.type === "DELETED") this.items.delete(this.key(o));
    else this.items.set(this.key(o), o);
    return true;
  }
  stop() { this.stopped = true; }
}

let liveCount = 0;
function setLive(on) {
  liveCount = Math.max(0, liveCount + (on ? 1 : -1));
  const el = document.getElementById("live");
  el.textContent = liveCount ? "live" : "reconnecting…";
  el.classList.toggle("on", liveCount > 0);
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

function conditions(list) {
  return (list || []).map((c) =>
    el("span", { class: "cond" + (c.status === "True" ? "" : " false"),
                 title: (c.reason || "") + (c.message ? ": " + c.message : "") },
       c.type + (c.status === "True" ? "" : " " + c.status + " (" + (c.reason || "") + ")")));
}

const byName = (a, b) => (a.metadata.namespace + "/" + a.metadata.name).localeCompare(b.metadata.namespace + "/" + b.metadata.name);

// ---------------------------------------------------------------- views

const views = {
  overview: {
    collections: [GW + "/gateways"],
    render([gateways]) {
      const list = [...gateways.items.values()].sort(byName);
      if (!list.length) return el("p", { class: "muted" }, "No Gateway yet.");
      return list.map((g) => {
        const st = g.status || {};
        const listenerStatus = new Map((st.listeners || []).map((l) => [l.name, l]));
        return el("section", { class: "card", "data-gateway": g.metadata.namespace + "/" + g.metadata.name },
          el("h3", {}, g.metadata.namespace + "/" + g.metadata.name + " ",
             el("span", { class: "muted" }, "class " + g.spec.gatewayClassName)),
          el("div", {}, conditions(st.conditions)),
          el("table", {},
            el("tr", {}, ["listener", "port", "protocol", "hostname", "attached routes", "conditions"].map((h) => el("th", {}, h))),
            (g.spec.listeners || []).map((l) => {
              const ls = listenerStatus.get(l.name) || {};
              return el("tr", {},
                el("td", {}, l.name), el("td", {}, String(l.port)), el("td", {}, l.protocol),
                el("td", {}, l.hostname || "*"), el("td", {}, String(ls.attachedRoutes ?? "")),
                el("td", {}, conditions(ls.conditions)));
            })));
      });
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
          el("tr", {}, ["kind", "route", "hostnames", "matches", "backends", "parents"].map((h) => el("th", {}, h))),
          shown.slice(0, LIMIT).map(routeRow)),
      ];
    },
  },
};

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
  const parents = ((r.status || {}).parents || []).map((p) => el("div", {},
    (p.parentRef.namespace || r.metadata.namespace) + "/" + p.parentRef.name + (p.parentRef.sectionName ? "/" + p.parentRef.sectionName : "") + " ",
    conditions(p.conditions)));
  return el("tr", { "data-route": r.metadata.namespace + "/" + r.metadata.name },
    el("td", {}, r.kind), el("td", {}, r.metadata.namespace + "/" + r.metadata.name),
    el("td", {}, (r.spec.hostnames || ["*"]).join(", ")), el("td", {}, matches.join(", ")),
    el("td", {}, backends.join(", ")), el("td", {}, parents));
}

// ---------------------------------------------------------------- navigation

let current = null; // { view, collections }

function rerender() {
  if (!current) return;
  const focused = document.activeElement && document.activeElement.id;
  const at = focused && document.activeElement.selectionStart;
  main.replaceChildren(...[current.view.render(current.collections)].flat());
  if (focused && document.getElementById(focused)) { // typing in the filter goes on where it was
    const e = document.getElementById(focused);
    e.focus();
    if (at !== undefined && e.setSelectionRange) e.setSelectionRange(at, at);
  }
}

let pending = false;
function scheduleRender() { // many events in a burst: one render per frame
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; rerender(); });
}

function show() {
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || "overview";
  const view = views[name] || views.overview;
  if (current) current.collections.forEach((c) => c.stop());
  liveCount = 0;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
  current = { view, collections: view.collections.map((p) => new Collection(p, scheduleRender)) };
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
