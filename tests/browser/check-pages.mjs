// Drives Debian's headless Chromium against klero's public pages, for tests/tests/pages.
// Usage: node check-pages.mjs <config.json>. It prints lines "PHASE <name>" when it needs the
// Rust test to act (then waits for a line on stdin), and finally "RESULT <json>" with what each
// scenario saw; the Rust test asserts on that. Nothing here decides pass or fail.
//
// A small HTTP proxy stands between the browser and the servers, to play a dishonest server: it
// rewrites pages (a lie in the markup), alters slices, replays an old record, or switches to a
// server with another history or other keys.
import { readFile } from "node:fs/promises";
import http from "node:http";
import { createRequire } from "node:module";
import readline from "node:readline";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const config = JSON.parse(await readFile(process.argv[2], "utf8"));
const axeSource = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");
const input = readline.createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
const phase = async (name) => {
  process.stdout.write(`PHASE ${name}\n`);
  await lines.next();
};

// ------------------------------------------------------------------ the proxy
let upstream = config.a.pages;
// mutate(path with query, body as text, content type) -> body; replay(path) -> cached answer.
let mutate = (_path, body) => body;
let replay = null;
const recorded = new Map();
let recording = false;
const proxy = http.createServer((request, response) => {
  const target = new URL(request.url, upstream);
  const key = target.pathname + target.search;
  if (replay && replay.has(key)) {
    const [status, headers, body] = replay.get(key);
    response.writeHead(status, { ...headers, "content-length": String(body.length) });
    response.end(body);
    return;
  }
  const chunks = [];
  request.on("data", (c) => chunks.push(c));
  request.on("end", () => {
    // Ask for plain bytes, so that the proxy can alter them.
    const headers = { ...request.headers, host: target.host };
    delete headers["accept-encoding"];
    const forward = http.request(target, { method: request.method, headers }, (answer) => {
      const parts = [];
      answer.on("data", (c) => parts.push(c));
      answer.on("end", () => {
        const type = answer.headers["content-type"] || "";
        const raw = Buffer.concat(parts);
        const text = type.startsWith("text/") ? raw.toString("utf8") : null;
        const body = text === null ? raw : Buffer.from(mutate(key, text, type), "utf8");
        const out = { ...answer.headers, "content-length": String(body.length) };
        delete out["transfer-encoding"];
        if (recording) recorded.set(key, [answer.statusCode, out, body]);
        response.writeHead(answer.statusCode, out);
        response.end(body);
      });
    });
    forward.on("error", (error) => { response.writeHead(502); response.end(String(error)); });
    forward.end(Buffer.concat(chunks));
  });
});
await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
const proxied = `http://127.0.0.1:${proxy.address().port}`;

// A second origin that serves only the standalone verifier, as a newspaper's site would.
const standaloneBytes = Buffer.from(await (await fetch(`${config.a.pages}/static/verifier.html`)).arrayBuffer());
const otherSite = http.createServer((_request, response) => {
  response.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": String(standaloneBytes.length) });
  response.end(standaloneBytes);
});
await new Promise((resolve) => otherSite.listen(0, "127.0.0.1", resolve));
const otherOrigin = `http://127.0.0.1:${otherSite.address().port}`;

// ------------------------------------------------------------------ the browser
const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const requestsElsewhere = [];
const newPage = async (options = {}) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 1400 }, ...options });
  const page = await context.newPage();
  page.dialogs = [];
  page.errors = [];
  page.on("dialog", async (d) => { page.dialogs.push(d.message()); await d.dismiss(); });
  page.on("pageerror", (e) => page.errors.push(e.message));
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.hostname !== "127.0.0.1") requestsElsewhere.push(r.url());
  });
  return { context, page };
};
// The check's outcome, once settled (a page that reloads itself to retry settles later).
const outcome = async (page) => {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await page.waitForFunction(() => window.kleroOutcome, null, { timeout: 30000 });
      return await page.evaluate(() => window.kleroOutcome);
    } catch (error) {
      if (!/context was destroyed|navigation/i.test(error.message)) throw error;
    }
  }
  throw new Error("the check never settled");
};
const visit = async (page, url) => {
  const started = Date.now();
  const response = await page.goto(url);
  const seen = await outcome(page);
  return { ...seen, status: response.status(), millis: Date.now() - started, text: await page.textContent("body") };
};
const assembly = `/assemblies/${config.a.assembly}`;

const out = { pages: {}, lies: {} };

// 1. An honest server: every kind of page verifies, and shows the record.
{
  const { context, page } = await newPage();
  for (const path of [assembly, "/", "/dashboard", `${assembly}/data`, `${assembly}/submissions`, `/events/${config.a.response}`,
    `/events/${config.a.facilitator_grant}`, `/receipt?log_index=${config.a.submission}`,
    `/receipt?log_index=${config.a.uncited}`, "/receipt", "/programme", "/councils/north"]) {
    out.pages[path] = await visit(page, `${config.a.pages}${path}`);
  }
  const response = await page.goto(`${config.a.pages}${assembly}`);
  await outcome(page);
  out.honest = {
    headers: response.headers(),
    scripts: await page.$$eval("script", (s) => s.map((e) => e.getAttribute("src"))),
    dialogs: page.dialogs,
    errors: page.errors,
    cookies: await context.cookies(),
  };
  if (config.screenshot) await page.screenshot({ path: config.screenshot, fullPage: false });
  await context.close();
}

// 2. Accessibility, by axe-core (with the page's CSP bypassed, to inject axe), after the check.
{
  const { context, page } = await newPage({ bypassCSP: true });
  out.axe = {};
  for (const path of [assembly, "/", "/dashboard", "/receipt", `/events/${config.a.response}`, "/programme"]) {
    await page.goto(`${config.a.pages}${path}`);
    await outcome(page);
    await page.addScriptTag({ content: axeSource });
    out.axe[path] = await page.evaluate(async () => (await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    })).violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help })));
  }
  await page.goto(`${config.a.pages}/`);
  await outcome(page);
  await page.keyboard.press("Tab");
  out.firstTab = await page.evaluate(() => document.activeElement?.textContent);
  await context.close();
}

// 2b. On a phone's screen (390 px) nothing runs off the side, the chart's text stays legible,
// and a table that scrolls says so.
{
  const { context, page } = await newPage({ viewport: { width: 390, height: 844 } });
  out.phone = {};
  for (const path of [assembly, "/dashboard", `/events/${config.a.response}`, `${assembly}/submissions`, "/programme"]) {
    await page.goto(`${config.a.pages}${path}`);
    await outcome(page);
    out.phone[path] = await page.evaluate(() => {
      const label = document.querySelector(".quota-chart text");
      const hint = document.querySelector(".scroll-hint");
      return {
        scrollWidth: document.documentElement.scrollWidth,
        width: window.innerWidth,
        chartTextPx: label ? label.getBoundingClientRect().height : null,
        scrollHint: hint ? getComputedStyle(hint).display !== "none" : null,
      };
    });
    if (config.screenshotDir) {
      const name = path === assembly ? "assembly" : path === "/dashboard" ? "dashboard" : path === "/programme" ? "programme"
        : path.endsWith("/submissions") ? "submissions" : "event";
      await page.screenshot({ path: `${config.screenshotDir}/phone-${name}.png`, fullPage: false });
    }
  }
  await context.close();
}

// 3. Without JavaScript the page is complete, and says nothing was checked.
{
  const { context, page } = await newPage({ javaScriptEnabled: false });
  await page.goto(`${config.a.pages}${assembly}`);
  out.nojs = { text: await page.textContent("main"), badge: await page.textContent("#verification-badge") };
  // A resident with no script sends a submission through the call's plain form, by keyboard.
  await page.focus("form.call-form textarea[name=text]");
  await page.keyboard.type("A crossing by the library, typed with no script.");
  await page.check("form.call-form input[name=consent]");
  const [response] = await Promise.all([page.waitForNavigation(), page.click("form.call-form button[type=submit]")]);
  out.nojs.submitted = { status: response.status(), heading: await page.textContent("h1"), text: await page.textContent("main") };
  await context.close();
}

// 3b. With scripts, a resident submits: their browser makes its own key, signs, and is told
// where the submission is; the receipt page then shows it, checked.
{
  const { context, page } = await newPage();
  // The test server's clock runs ahead (to reach deadlines); the resident's runs with it.
  await page.clock.install({ time: Date.now() + config.a.clockOffsetMs });
  await page.clock.resume();
  await visit(page, `${config.a.pages}${assembly}`);
  await page.fill("form.call-form textarea[name=text]", "A crossing by the library, signed in my own browser.");
  await page.fill("form.call-form input[name=email]", "signed.resident@example.org");
  await page.check("form.call-form input[name=consent]");
  await page.click("form.call-form button[type=submit]");
  await page.waitForSelector(".submitted, .form-error", { timeout: 15000 });
  const note = await page.textContent(".submitted, .form-error");
  if (!(await page.$(".submitted"))) throw new Error(`the signed submission was refused: ${note}`);
  const receipt = await page.getAttribute(".submitted a", "href");
  const mine = await page.evaluate(() => JSON.parse(localStorage.getItem(`klero:mine:${location.origin}`) || "[]"));
  const followed = await visit(page, `${config.a.pages}${receipt}`);
  // Then a moderator publishes it, and a recommendation the council answered cites it: each
  // time the resident's page, checked, says so.
  // Withheld first: the resident sees why, and appeals from the same browser.
  await phase(`withhold ${receipt.split("=")[1]}`);
  const withheld = await visit(page, `${config.a.pages}${receipt}`);
  const appealOffered = await page.isVisible("form.appeal-form button");
  await page.click("form.appeal-form button");
  await page.waitForSelector("p.submitted, p.form-error", { timeout: 15000 });
  const appealed = await page.textContent("p.submitted, p.form-error");
  await phase(`publish ${receipt.split("=")[1]}`);
  const published = await visit(page, `${config.a.pages}${receipt}`);
  await phase(`cite ${receipt.split("=")[1]}`);
  const cited = await visit(page, `${config.a.pages}${receipt}`);
  // The server restarts: the same browser, coming back, still follows its submission.
  await phase("restart");
  const restarted = await visit(page, `${config.a.pages}${receipt}`);
  // Coming back: the receipt page lists what this browser sent.
  await page.goto(`${config.a.pages}/receipt`);
  await page.waitForSelector("#mine a", { timeout: 10000 });
  const listed = await page.getAttribute("#mine a", "href");
  out.signed = {
    note, receipt, mine, listed,
    followed: { state: followed.state, text: followed.text },
    withheld: { state: withheld.state, text: withheld.text, appealOffered, appealed },
    published: { state: published.state, text: published.text },
    cited: { state: cited.state, text: cited.text },
    restarted: { state: restarted.state, text: restarted.text },
  };
  await context.close();
}

// 3c. In Welsh: the pages verify and say so in Welsh; a resident signs from the Welsh form and
// follows their submission in Welsh; axe-core finds nothing on them; on a phone (390 px) the
// form and the status page, in both languages.
{
  const { context, page } = await newPage({ bypassCSP: true });
  await page.clock.install({ time: Date.now() + config.a.clockOffsetMs });
  await page.clock.resume();
  const welshAssembly = `/cy${assembly}`;
  const seenAssembly = await visit(page, `${config.a.pages}${welshAssembly}`);
  await page.fill("form.call-form textarea[name=text]", "Croesfan ger y llyfrgell, os gwelwch yn dda.");
  await page.check("form.call-form input[name=consent]");
  await page.click("form.call-form button[type=submit]");
  await page.waitForSelector(".submitted, .form-error", { timeout: 15000 });
  const note = await page.textContent(".submitted, .form-error");
  const receipt = await page.getAttribute(".submitted a", "href");
  const status = await visit(page, `${config.a.pages}${receipt}`);
  out.welsh = {
    assembly: { state: seenAssembly.state, badge: seenAssembly.badge, summary: seenAssembly.summary, text: seenAssembly.text },
    note, receipt,
    status: { state: status.state, badge: status.badge, summary: status.summary, text: status.text },
    axe: {},
  };
  for (const path of [welshAssembly, receipt, "/cy/", "/cy/receipt"]) {
    await page.goto(`${config.a.pages}${path}`);
    await outcome(page);
    await page.addScriptTag({ content: axeSource });
    out.welsh.axe[path] = await page.evaluate(async () => (await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    })).violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help })));
  }
  await context.close();
  // At 320 px (the narrowest WCAG 2.1's reflow asks for), the form and its page fit, in both
  // languages: nothing runs off the side.
  {
    const narrow = await newPage({ viewport: { width: 320, height: 640 } });
    out.welsh.narrow = {};
    for (const prefix of ["", "/cy"]) {
      await narrow.page.goto(`${config.a.pages}${prefix}${assembly}`);
      await outcome(narrow.page);
      out.welsh.narrow[prefix || "/"] = await narrow.page.evaluate(() => {
        const form = document.querySelector("form.call-form");
        const box = form ? form.getBoundingClientRect() : null;
        return { scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth, formRight: box ? box.right : null };
      });
    }
    await narrow.context.close();
  }
  if (config.screenshotDir) {
    const phone = await newPage({ viewport: { width: 390, height: 844 } });
    await phone.page.clock.install({ time: Date.now() + config.a.clockOffsetMs });
    await phone.page.clock.resume();
    for (const [prefix, lang] of [["", "en"], ["/cy", "cy"]]) {
      await phone.page.goto(`${config.a.pages}${prefix}${assembly}`);
      await outcome(phone.page);
      await phone.page.locator("form.call-form").scrollIntoViewIfNeeded();
      await phone.page.screenshot({ path: `${config.screenshotDir}/phone-form-${lang}.png`, fullPage: false });
      await phone.page.goto(`${config.a.pages}${prefix}${receipt.replace(/^\/cy/, "")}`);
      await outcome(phone.page);
      await phone.page.screenshot({ path: `${config.screenshotDir}/phone-status-${lang}.png`, fullPage: false });
    }
    await phone.context.close();
  }
}

// 4. Lies in the markup: each page altered in transit, in a fresh browser.
const between = (text, start, end) => {
  const from = text.indexOf(start);
  if (from < 0) return null;
  const to = text.indexOf(end, from + start.length);
  return to < 0 ? null : text.slice(from, to + end.length);
};
const answerOf = (text, id) => between(text, `<section class="answer" aria-label="The council's answer to ${id}">`, "</section>");
const lies = {
  // The council's answer to R1 shown under R2, which has no answer.
  "transplant an answer": [assembly, (text) => {
    const r1 = answerOf(text, "R1"), r2 = answerOf(text, "R2");
    return r1 && r2 ? text.replace(r2, r1.replace("to R1", "to R2")) : text;
  }],
  "omit an answer": [assembly, (text) => { const r1 = answerOf(text, "R1"); return r1 ? text.replace(r1, "") : text; }],
  "omit a recommendation": [assembly, (text) => {
    const r2 = between(text, `<article class="recommendation" id="recommendation-R2">`, "</article>");
    return r2 ? text.replace(r2, "") : text;
  }],
  "omit a timeline item": [assembly, (text) => text.replace(/<li><strong>[^<]*<\/strong>: Panel drawn by lot[^\n]*\n/, "")],
  "a rationale changed": [assembly, (text) => text.replace(config.rationale, config.rationale.replace("2027", "2028"))],
  "a decision changed": [assembly, (text) => text.replace(">Accepted</span>", ">Not accepted</span>")],
  "an answer's date changed": [assembly, (text) => text.replace(/Answer recorded (\d+) /, (_m, d) => `Answer recorded ${Number(d) % 28 + 1} `)],
  "a citation's label changed": [assembly, (text) => text.replace("the evidence the panel relied on", "the evidence the panel rejected")],
  "a download link swapped": [assembly, (text) => text.replace(/href="\/documents\/([0-9a-f]{64})">Download/, `href="/documents/${"0".repeat(64)}">Download`)],
  "a live submission shown as erased": [assembly, (text) => text.replace(config.submissionHtml, "Erased on 1 March 2026 (the submitter asked)")],
  "the chances of selection changed": [assembly, (text) => text.replace(/chance of selection between <strong>[^<]*<\/strong>/, "chance of selection between <strong>49.9%</strong>")],
  "a quota's seats changed": [assembly, (text) => text.replace(/<td>(\d+) to (\d+)<\/td><td>(\d+)<\/td>/, (_m, a, b, c) => `<td>${a} to ${b}</td><td>${Number(c) + 1}</td>`)],
  "a count changed": [assembly, (text) => text.replace(/(\d+) volunteers were in the pool/, (_m, n) => `${Number(n) + 10} volunteers were in the pool`)],
  "an overdue flag removed": [assembly, (text) => text.replace(/<p class="flag overdue big">[^\n]*<\/p>/, "<p>No answer yet.</p>")],
  "text added outside any record value": [assembly, (text) => text.replace("<h2>Timeline</h2>", "<h2>Timeline</h2><p>The council accepted every recommendation.</p>")],
  "a view's digest changed": [`${assembly}/data`, (text) => text.replace(/<code class="wrap">([0-9a-f])([0-9a-f]{63})<\/code>/, (_m, a, b) => `<code class="wrap">${a === "0" ? "1" : "0"}${b}</code>`)],
  "a receipt cites a recommendation that never cited it": [`/receipt?log_index=${config.a.uncited}`, (text) => text.replace(
    /<p>No recommendation and no answer of the council cites it yet\.[^<]*<\/p>/,
    `<h3>Recommendations that cite it</h3><ul class="citations"><li><a href="${assembly}#recommendation-R1">R1</a>: <q>it shaped the text</q></li></ul>`)],
  "an event's payload changed": [`/events/${config.a.response}`, (text) => text.replace("<dd>Accepted</dd>", "<dd>Not accepted</dd>")],
  "an event's author changed": [`/events/${config.a.response}`, (text) => text.replace(/(<dt>Author's key<\/dt><dd><code class="wrap">)([0-9a-f])/, (_m, a, b) => `${a}${b === "0" ? "1" : "0"}`)],
  "an event's bytes changed": [`/events/${config.a.response}`, (text) => text.replace(/(<pre class="wrap bytes">)(.)/, (_m, a, b) => `${a}${b === "A" ? "B" : "A"}`)],
  "the index leaves an assembly out": ["/", (text) => text.replace(/<li class="card">[\s\S]*?<\/li>/, "")],
  "the dashboard's counts changed": ["/dashboard", (text) => text.replace(/<td>(\d+)<\/td>/, (_m, n) => `<td>${Number(n) + 3}</td>`)],
  "an uncited submission shown as cited": [`${assembly}/submissions`, (text) => text.replace(
    "<p class=\"fate\">No recommendation and no answer of the council cites it.</p>",
    `<ul class="fate"><li>Cited by <a href="${assembly}#recommendation-R2">R2</a>: adopted by the panel; not answered yet.</li></ul>`)],
  "a submission's text changed": [`${assembly}/submissions`, (text) => text.replace(config.submissionHtml, "Close the bus station.")],
  "a submission's number changed": [`${assembly}/submissions`, (text) => text.replace("<h2>Submission 2 ", "<h2>Submission 7 ")],
};
for (const [name, [path, lie]] of Object.entries(lies)) {
  const { context, page } = await newPage();
  upstream = config.a.pages;
  let applied = false;
  mutate = (key, text, type) => {
    if (key !== path || !type.startsWith("text/html")) return text;
    const changed = lie(text);
    applied = applied || changed !== text;
    return changed;
  };
  const seen = await visit(page, `${proxied}${path}`);
  out.lies[name] = { ...seen, applied, text: undefined };
  mutate = (_k, text) => text;
  await context.close();
}

// A lie marked as the server's word (which the comparison skips, since no reader can check it
// and it may change between the page and its slice) is never shown: the page shown is the one
// the browser derived.
{
  const { context, page } = await newPage();
  upstream = config.a.pages;
  const lie = "The council accepted every recommendation in full.";
  mutate = (key, text, type) => key === assembly && type.startsWith("text/html")
    ? text.replace("<h2>Timeline</h2>", `<h2>Timeline</h2><p class="note" data-server-word>${lie}</p>`) : text;
  const seen = await visit(page, `${proxied}${assembly}`);
  out.serverWord = { state: seen.state, showsLie: seen.text.includes(lie) };
  mutate = (_k, text) => text;
  await context.close();
}

// 5. Lies in the slice itself: an event left out, two events swapped.
for (const [name, lie] of Object.entries({
  "a slice with an event left out": (text) => {
    const events = text.split("\n").filter((l) => l.startsWith("event "));
    const drop = events[Math.floor(events.length / 2)];
    return text.replace(`${drop}\n`, "").replace(/\nend (\d+)\n$/, (_m, n) => `\nend ${Number(n) - 1}\n`);
  },
  "a slice with two events swapped": (text) => {
    const events = text.split("\n").filter((l) => l.startsWith("event "));
    const [a, b] = [events[events.length - 2], events[events.length - 3]];
    const body = (line) => line.split(" ")[2];
    return text.replace(a, `${a.split(" ").slice(0, 2).join(" ")} ${body(b)}`).replace(b, `${b.split(" ").slice(0, 2).join(" ")} ${body(a)}`);
  },
})) {
  const { context, page } = await newPage();
  upstream = config.a.pages;
  mutate = (key, text) => (key.startsWith("/api/v1/slices/") ? lie(text) : text);
  out.lies[name] = { ...(await visit(page, `${proxied}${assembly}`)), applied: true, text: undefined };
  mutate = (_k, text) => text;
  await context.close();
}

// 6. A frozen page: the browser saw the record grow, then is served the old page and its old
// slice again.
{
  const { context, page } = await newPage();
  upstream = config.a.pages;
  recording = true;
  const before = await visit(page, `${proxied}${assembly}`);
  recording = false;
  await phase("grow");
  const grown = await visit(page, `${proxied}/`);
  replay = new Map(recorded);
  const frozen = await visit(page, `${proxied}${assembly}`);
  replay = null;
  const after = await visit(page, `${proxied}${assembly}`);
  out.freeze = { before: before.state, grown: grown.state, frozen: { ...frozen, text: undefined }, after: after.state };
  await context.close();
}

// 7. A forked log: the browser saw A's record, then the same address serves B's history,
// signed with the same log key.
{
  const { context, page } = await newPage();
  upstream = config.a.pages;
  const before = await visit(page, `${proxied}${assembly}`);
  upstream = config.b.pages;
  const forked = await visit(page, `${proxied}/assemblies/${config.b.assembly}`);
  out.fork = { before: before.state, forked: { ...forked, text: undefined } };
  upstream = config.a.pages;
  await context.close();
}

// 8. Other keys: the browser pinned A's, then a network serves C's record (another trust root)
// at the same address. The badge explains; after reading, the visitor may trust the new keys.
{
  const { context, page } = await newPage();
  upstream = config.a.pages;
  const before = await visit(page, `${proxied}${assembly}`);
  upstream = config.c.pages;
  const swapped = await visit(page, `${proxied}/assemblies/${config.c.assembly}`);
  const button = await page.$("#verification button");
  let recovered = null;
  if (button) {
    await button.click();
    recovered = await outcome(page);
  }
  out.keys = { before: before.state, swapped: { ...swapped, text: undefined }, button: Boolean(button), recovered };
  upstream = config.a.pages;
  await context.close();
}

// 9. Witnesses: a log whose witnesses cosign verifies, naming them; a fork of it, signed with
// the same log key but never cosigned, fails on the first visit.
{
  const { context, page } = await newPage();
  out.witnessed = await visit(page, `${config.witnessed.pages}/assemblies/${config.witnessed.assembly}`);
  out.witnessed.text = undefined;
  await context.close();
}
{
  const { context, page } = await newPage();
  out.splitView = await visit(page, `${config.split.pages}/assemblies/${config.split.assembly}`);
  out.splitView.text = undefined;
  await context.close();
}

// 10. The standalone verifier, from another origin, checks A without trusting A's pages.
{
  const { context, page } = await newPage();
  await page.goto(`${otherOrigin}/verifier.html`);
  await page.fill("#server", config.a.pages);
  await page.fill("#page", assembly);
  await page.click("button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#verification .badge") && !/Not checked/.test(document.querySelector("#verification .badge").textContent), null, { timeout: 30000 });
  out.standalone = {
    badge: await page.textContent("#verification .badge"),
    summary: await page.textContent("#verification-summary"),
    derived: await page.textContent("#derived"),
    errors: page.errors,
  };
  await context.close();
}

out.requestsElsewhere = requestsElsewhere;
await browser.close();
proxy.close();
otherSite.close();
// Exit once the pipe has taken the whole line (a large write to a pipe completes later).
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`, () => process.exit(0));
