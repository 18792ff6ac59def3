// Drives the dashboard in Debian's headless Chromium with playwright-core, one
// scenario per run, and prints one JSON line of what it saw (the pytest side,
// tests/integration/test_dashboard.py, makes the API calls and the assertions).
//
//   node dashboard.mjs BASE SCENARIO [ARG...]
//     overview-live NAME      open #/overview, wait for the Gateway card NAME
//                             (created by the test through the API after the
//                             page is up, so it can only come through the watch)
//     login TOKEN             open the page, log in with TOKEN: {refused, error, gateways}
//     routes FILTER           open #/routes, type FILTER: {count, rows, filters, firstRender, filterMs}
//     edit PATH FROM TO [save] the YAML editor of the object at API path PATH:
//                             replace FROM with TO, wait for the server's check
//                             (and save): {status, problems, text}
//     overview-traffic GW     the Overview's runtime line of Gateway GW once it shows traffic
//     backends KEY            the Backends view's card of KEY ("Backend/default/be")
//     policies POLICY ROUTE   the Policies view's row of POLICY and ROUTE's effective policy
//     edit-conflict PATH FROM TO  load the editor, say {"ready":true}, wait for a line on
//                             stdin (the test changes the object meanwhile), edit, save
//     charts VIEW PANEL CHART...  open #/VIEW and wait until each named chart of traffic
//                             panel PANEL ("Gateway/default/gw") shows a non-zero second
//     new KIND FROM TO [create]  #/new: KIND's template with FROM replaced by TO, checked
//                             by the server (and created): {status, problems, hash}
//     delete PATH             the editor's Delete: dismissed once, then confirmed
//     logs STATUS ROUTE MARKER  #/logs filtered ("-": no filter), {"ready":true} once lines
//                             show, then waits for a request with MARKER: {rows, count}
//     screenshot VIEW FILE    save a screenshot of #/VIEW
// Every step has a timeout; a failure prints {"failure": ...} and exits 1.
import { chromium } from "playwright-core";

const [base, scenario, ...args] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/lib/chromium/chromium";

function out(obj) { process.stdout.write(JSON.stringify(obj) + "\n"); }

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let page = null;
try {
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  if (scenario === "overview-live") {
    const [name, readyFile] = args;
    await page.goto(base + "/ui/#/overview");
    await page.waitForSelector("#live.on");
    await page.evaluate(() => { window.sluiceMark = 42; }); // gone if the page reloads
    // Tell the test the page is up and watching; it then creates the Gateway.
    process.stdout.write(JSON.stringify({ ready: true }) + "\n");
    const card = page.locator(`[data-gateway="default/${name}"]`);
    await card.waitFor();
    out({ text: await card.innerText(), mark: await page.evaluate(() => window.sluiceMark), errors });
  } else if (scenario === "login") {
    const [token] = args;
    await page.goto(base + "/ui/#/overview");
    await page.waitForSelector("#login[open]");
    await page.fill("#token", token);
    await page.click("#login-form button[type=submit]");
    // Either the dialog closes and the page fills, or it says why not.
    await Promise.race([
      page.waitForSelector("#login:not([open])", { state: "attached" }),
      page.waitForFunction(() => document.getElementById("login-error").textContent !== ""),
    ]);
    const refused = await page.evaluate(() => document.getElementById("login").open);
    const error = await page.textContent("#login-error");
    let gateways = [];
    if (!refused) {
      await page.waitForSelector("[data-gateway]");
      gateways = await page.$$eval("[data-gateway]", (els) => els.map((e) => e.dataset.gateway));
    }
    out({ refused, error, gateways, token: await page.evaluate(() => sessionStorage.getItem("sluice-token")), errors });
  } else if (scenario === "routes") {
    const [filter, expectTotal] = args;
    const t0 = Date.now();
    await page.goto(base + "/ui/#/routes");
    await page.waitForFunction((n) => (document.getElementById("route-count") || {}).textContent?.endsWith(` of ${n} routes`) ||
      (document.getElementById("route-count") || {}).textContent?.includes(` of ${n} routes `), expectTotal);
    const firstRender = Date.now() - t0;
    const t1 = Date.now();
    await page.fill("#route-filter", filter);
    await page.waitForFunction((f) => [...document.querySelectorAll("#routes tr[data-route]")].every((r) => r.innerText.toLowerCase().includes(f.toLowerCase())), filter);
    const filterMs = Date.now() - t1;
    const rows = await page.$$eval("#routes tr[data-route]", (els) => els.map((e) => e.dataset.route));
    const filters = Object.fromEntries(await page.$$eval("#routes tr[data-route]", (els) =>
      els.map((e) => [e.dataset.route, e.querySelector(".filters-cell").textContent])));
    out({ count: await page.textContent("#route-count"), rows, filters, firstRender, filterMs, errors });
  } else if (scenario === "edit") {
    // edit PATH FROM TO SAVE: open the editor of the object at API path PATH,
    // replace the text FROM with TO, wait for the server's check; SAVE=save
    // then saves (after a valid check). {status, problems, text}
    const [path, from, to, save] = args;
    await page.goto(base + "/ui/#/edit" + path);
    await page.waitForFunction(() => document.getElementById("edit-status")?.textContent === "as stored");
    const yaml = await page.inputValue("#yaml");
    if (!yaml.includes(from)) throw new Error("the YAML has no " + JSON.stringify(from) + ":\n" + yaml);
    await page.fill("#yaml", yaml.replace(from, to));
    await page.waitForFunction(() => /^(valid|invalid|not saved)/.test(document.getElementById("edit-status").textContent));
    if (save === "save") {
      await page.click("#edit-save");
      await page.waitForFunction(() => /^(saved|not saved)/.test(document.getElementById("edit-status").textContent));
    }
    const problems = await page.$$eval("#edit-errors li", (els) => els.map((e) => ({ field: e.dataset.field, line: Number(e.dataset.line), text: e.textContent })));
    out({ status: await page.textContent("#edit-status"), problems, text: await page.inputValue("#yaml"), errors });
  } else if (scenario === "overview-traffic") {
    // overview-traffic GATEWAY: the Gateway's runtime line once it shows a non-zero rate
    const [gw] = args;
    await page.goto(base + "/ui/#/overview");
    await page.waitForFunction((g) => /[1-9][0-9.]* req\/s/.test(document.querySelector(`[data-runtime="${g}"]`)?.textContent || ""), gw);
    out({ text: await page.textContent(`[data-runtime="${gw}"]`), errors });
  } else if (scenario === "new") {
    // new KIND FROM TO [create]: open #/new, pick KIND's template, replace FROM with TO,
    // wait for the server's check (and create): {status, problems, hash}
    const [kind, from, to, create] = args;
    await page.goto(base + "/ui/#/new");
    await page.selectOption("#new-kind", kind);
    const yaml = await page.inputValue("#yaml");
    if (!yaml.includes(from)) throw new Error("the template has no " + JSON.stringify(from) + ":\n" + yaml);
    await page.fill("#yaml", yaml.replace(from, to));
    await page.waitForFunction(() => /^(valid|invalid|this API|the YAML)/.test(document.getElementById("new-status").textContent));
    const status = await page.textContent("#new-status");
    const problems = await page.$$eval("#edit-errors li", (els) => els.map((e) => ({ field: e.dataset.field, line: Number(e.dataset.line), text: e.textContent })));
    if (create === "create") {
      await page.click("#new-create");
      await page.waitForFunction(() => location.hash.startsWith("#/edit/") &&
        document.getElementById("edit-status")?.textContent === "as stored");
    }
    out({ status, problems, hash: await page.evaluate(() => location.hash), text: await page.inputValue("#yaml"), errors });
  } else if (scenario === "delete") {
    // delete PATH: the editor's Delete, first dismissed at the confirmation, then accepted:
    // {after_dismiss, status}
    const [path] = args;
    await page.goto(base + "/ui/#/edit" + path);
    await page.waitForFunction(() => document.getElementById("edit-status")?.textContent === "as stored");
    const answers = ["dismiss", "accept"];
    const asked = [];
    page.on("dialog", (d) => { asked.push(d.message()); return answers.shift() === "accept" ? d.accept() : d.dismiss(); });
    await page.click("#edit-delete");
    await page.waitForTimeout(500);
    const afterDismiss = await page.textContent("#edit-status");
    await page.click("#edit-delete");
    await page.waitForFunction(() => /^(deleted|not deleted)/.test(document.getElementById("edit-status").textContent));
    out({ asked, afterDismiss, status: await page.textContent("#edit-status"), errors });
  } else if (scenario === "logs") {
    // logs STATUS ROUTE MARKER: open #/logs with those filters ("-": none), say {"ready":true}
    // once lines show, then wait for a line whose request has MARKER (sent by the test after
    // ready: it can only come by the page's own reading): {rows}
    const [status, route, marker] = args;
    await page.goto(base + "/ui/#/logs");
    await page.waitForSelector("#log-status");
    if (status !== "-") {
      if (/^\dxx$/.test(status)) await page.selectOption("#log-status", status);
      else { await page.fill("#log-code", status); await page.press("#log-code", "Enter"); }
    }
    let typed = null;
    if (route !== "-") {
      // Typed as a person does, across the view's redraws (one a second): nothing typed is lost.
      await page.waitForFunction(() => document.querySelectorAll("#log-lines tr[data-status]").length > 0);
      await page.type("#log-route", route, { delay: 120 });
      typed = await page.inputValue("#log-route");
      await page.press("#log-route", "Enter");
    }
    await page.waitForFunction(() => document.querySelectorAll("#log-lines tr[data-status]").length > 0);
    out({ ready: true, typed });
    await page.waitForFunction((m) => [...document.querySelectorAll("#log-lines td.request")].some((td) => td.textContent.includes(m)), marker);
    const rows = await page.$$eval("#log-lines tr[data-status]", (trs) => trs.map((tr) => ({
      status: Number(tr.dataset.status), request: tr.querySelector("td.request").textContent, route: tr.children[3].textContent })));
    out({ rows, count: await page.textContent("#log-count"), errors });
  } else if (scenario === "charts") {
    // charts VIEW PANEL CHART...: open #/VIEW, wait until each CHART of the traffic panel
    // PANEL ("Gateway/default/gw") has drawn a second with a non-zero value
    const [view, panel, ...charts] = args;
    await page.goto(base + "/ui/#/" + view);
    const sel = (c) => `[data-traffic="${panel}"] [data-chart="${c}"]`;
    const seen = {};
    for (const c of charts) {
      await page.waitForFunction((q) => Number(document.querySelector(q)?.dataset.nonzero || 0) > 0, sel(c));
      seen[c] = await page.$eval(sel(c), (e) => ({ nonzero: Number(e.dataset.nonzero), max: Number(e.dataset.max),
                                                   canvas: !!e.querySelector("canvas"), legend: e.querySelector(".u-legend")?.innerText || "" }));
    }
    out({ charts: seen, summary: await page.textContent(`[data-traffic="${panel}"] .traffic-summary`), errors });
  } else if (scenario === "backends") {
    // backends KEY: the Backends view's card of backend KEY, once its traffic counts are in
    const [key] = args;
    await page.goto(base + "/ui/#/backends");
    const card = page.locator(`[data-backend="${key}"]`);
    await card.waitFor();
    await page.waitForFunction((k) => /attempts \d+ \(/.test(document.querySelector(`[data-backend="${k}"]`)?.innerText || ""), key);
    out({ text: await card.innerText(), endpoints: await card.locator("[data-endpoint]").count(), errors });
  } else if (scenario === "policies") {
    // policies POLICY ROUTE: the Policies view's row of POLICY, then the effective policy of HTTPRoute ROUTE
    const [policy, route] = args;
    await page.goto(base + "/ui/#/policies");
    const row = page.locator(`[data-policy="${policy}"]`);
    await row.waitFor();
    await page.waitForFunction((p) => (document.querySelector(`[data-policy="${p}"]`)?.innerText || "").includes("Accepted"), policy);
    await page.fill("#eff-name", route);
    await page.click("#eff-go");
    await page.waitForSelector("#eff-result [data-section]");
    out({ row: await row.innerText(), effective: await page.innerText("#eff-result"), errors });
  } else if (scenario === "edit-conflict") {
    // edit-conflict PATH FROM TO: load the editor, print {"ready":true}, wait for a
    // line on stdin (the test changes the object meanwhile), then edit and save.
    const [path, from, to] = args;
    await page.goto(base + "/ui/#/edit" + path);
    await page.waitForFunction(() => document.getElementById("edit-status")?.textContent === "as stored");
    process.stdout.write(JSON.stringify({ ready: true }) + "\n");
    await new Promise((ok) => process.stdin.once("data", ok));
    const yaml = await page.inputValue("#yaml");
    await page.fill("#yaml", yaml.replace(from, to));
    await page.click("#edit-save");
    await page.waitForFunction(() => /^(saved|not saved|The object changed)/.test(document.getElementById("edit-status").textContent));
    out({ status: await page.textContent("#edit-status"), errors });
    process.stdin.pause();
  } else if (scenario === "switch") {
    // switch N KEY: go through the views N times, then wait for the Backends card of KEY:
    // a view left behind must end its watches (a browser opens only 6 connections per host)
    const [times, key] = args;
    await page.goto(base + "/ui/#/overview");
    for (let i = 0; i < Number(times); i++)
      for (const v of ["routes", "policies", "backends", "overview"]) {
        await page.evaluate((h) => { location.hash = h; }, "#/" + v);
        await page.waitForTimeout(50);
      }
    await page.evaluate(() => { location.hash = "#/backends"; });
    await page.waitForSelector(`[data-backend="${key}"]`);
    await page.waitForSelector("#live.on");
    out({ live: await page.textContent("#live"), errors });
  } else if (scenario === "screenshot") {
    const [view, file] = args;
    await page.goto(base + "/ui/#/" + view);
    if (view.startsWith("edit")) await page.waitForFunction(() => document.getElementById("edit-status")?.textContent === "as stored");
    else if (view === "new") await page.waitForSelector("#new-status");
    else await page.waitForSelector("#live.on");
    if (view === "logs") await page.waitForSelector("#log-lines tr[data-status]");
    if (view.startsWith("overview") || view.startsWith("traffic")) // charts: wait for the load's seconds
      await page.waitForFunction(() => Number(document.querySelector('[data-chart="requests"]')?.dataset.nonzero || 0) > 3);
    await page.waitForTimeout(view === "backends" ? 2500 : 300); // (backends: two readings, for the rate)
    await page.screenshot({ path: file, fullPage: view !== "logs" }); // (the log: one screen of it)
    out({ saved: file, errors });
  } else {
    throw new Error("unknown scenario " + scenario);
  }
} catch (e) {
  // What the page showed, to say why.
  const shown = page ? await page.evaluate(() => document.body.innerText.slice(0, 2000)).catch(() => "") : "";
  out({ failure: String(e && e.stack || e) + "\npage:\n" + shown });
  process.exitCode = 1;
} finally {
  await browser.close();
}
