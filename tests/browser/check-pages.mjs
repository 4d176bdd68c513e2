// Drives Debian's headless Chromium against klero's public pages, for tests/tests/pages.
// Usage: node check-pages.mjs <config.json>. Prints one JSON object with what each scenario
// saw; the Rust test asserts on it. Nothing here decides pass or fail.
//
// A small HTTP proxy stands between the browser and the servers, to play a dishonest server:
// it alters bytes in transit, switches to another server with a forked log, or hides a grant.
import { readFile } from "node:fs/promises";
import http from "node:http";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const config = JSON.parse(await readFile(process.argv[2], "utf8"));
const axeSource = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");

// ------------------------------------------------------------------ the proxy
let upstream = config.a.pages;
let mutate = (_path, body) => body;
const proxy = http.createServer((request, response) => {
  const target = new URL(request.url, upstream);
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
        const body = mutate(target.pathname, Buffer.concat(parts));
        const out = { ...answer.headers, "content-length": String(body.length) };
        delete out["transfer-encoding"];
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
const verification = async (page) => {
  const result = await page.evaluate(() => window.kleroVerification);
  const badge = await page.textContent("#verification-badge");
  const summary = await page.textContent("#verification-summary");
  return { ...result, badge, summary };
};
const assemblyPage = (base, which) => `${base}/assemblies/${config[which].assembly}`;

const out = {};

// 1. The honest server: the page verifies, shows the record, escapes what the public wrote.
{
  const { context, page } = await newPage();
  const response = await page.goto(assemblyPage(config.a.pages, "a"));
  out.verified = await verification(page);
  out.verified.status = response.status();
  out.verified.headers = response.headers();
  out.verified.text = await page.textContent("main");
  out.verified.scripts = await page.$$eval("script", (s) => s.map((e) => e.getAttribute("src")));
  out.verified.escaped = await page.$$eval("[data-field]", (els) => els.map((e) => e.textContent).filter((t) => t.includes("<script>")));
  out.verified.dialogs = page.dialogs;
  out.verified.errors = page.errors;
  out.verified.cookies = await context.cookies();
  if (config.screenshot) await page.screenshot({ path: config.screenshot, fullPage: false });
  // The other pages verify too.
  out.pages = {};
  for (const path of ["/", "/dashboard", `/events/${config.a.event}`, `/receipt?log_index=${config.a.submission}`,
    `/assemblies/${config.a.assembly}/data`]) {
    const r = await page.goto(`${config.a.pages}${path}`);
    out.pages[path] = { status: r.status(), ...(await verification(page)), text: await page.textContent("main") };
  }
  out.vectors = await page.evaluate(async (vectors) => {
    const results = [];
    for (const v of vectors) {
      const accepted = await window.klero.ledgerSignatureCheck(window.klero.fromHex(v.public_key),
        window.klero.fromHex(v.message), window.klero.fromHex(v.signature));
      results.push({ name: v.name, browser: accepted, ledger: v.ledger });
    }
    return results;
  }, config.vectors);
  await context.close();
}

// 2. Accessibility, by axe-core (run with the page's CSP bypassed, to inject axe).
{
  const { context, page } = await newPage({ bypassCSP: true });
  out.axe = {};
  for (const path of [`/assemblies/${config.a.assembly}`, "/", "/dashboard", "/receipt"]) {
    await page.goto(`${config.a.pages}${path}`);
    await page.evaluate(() => window.kleroVerification);
    await page.addScriptTag({ content: axeSource });
    const found = await page.evaluate(async () => (await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    })).violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help })));
    out.axe[path] = found;
  }
  // Keyboard: the first Tab reaches the skip link.
  await page.goto(`${config.a.pages}/`);
  await page.keyboard.press("Tab");
  out.firstTab = await page.evaluate(() => document.activeElement?.textContent);
  await context.close();
}

// 2b. On a phone's screen nothing runs off the side.
{
  const { context, page } = await newPage({ viewport: { width: 375, height: 740 } });
  out.phone = {};
  for (const path of [`/assemblies/${config.a.assembly}`, "/dashboard", `/events/${config.a.event}`]) {
    await page.goto(`${config.a.pages}${path}`);
    await page.evaluate(() => window.kleroVerification);
    out.phone[path] = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth }));
  }
  await context.close();
}

// 3. Without JavaScript the page is complete.
{
  const { context, page } = await newPage({ javaScriptEnabled: false });
  await page.goto(assemblyPage(config.a.pages, "a"));
  out.nojs = { text: await page.textContent("main"), badge: await page.textContent("#verification-badge") };
  await context.close();
}

// 4. One byte of a response's text altered in transit.
{
  const { context, page } = await newPage();
  upstream = config.a.pages;
  mutate = (path, body) => path.startsWith("/assemblies/")
    ? Buffer.from(body.toString("utf8").replace(config.tamper.from, config.tamper.to), "utf8") : body;
  await page.goto(assemblyPage(proxied, "a"));
  out.tampered = await verification(page);
  out.tampered.applied = (await page.textContent("main")).includes(config.tamper.to);
  mutate = (_p, body) => body;
  await context.close();
}

// 4b. Sealed personal text altered in transit: it no longer matches its signed commitment.
{
  const { context, page } = await newPage();
  upstream = config.a.pages;
  mutate = (path, body) => path.startsWith("/assemblies/")
    ? Buffer.from(body.toString("utf8").replace(config.sealedTamper.from, config.sealedTamper.to), "utf8") : body;
  await page.goto(assemblyPage(proxied, "a"));
  out.sealedTampered = await verification(page);
  out.sealedTampered.applied = (await page.textContent("main")).includes(config.sealedTamper.to);
  mutate = (_p, body) => body;
  await context.close();
}

// 5. A key without a grant: the server points the key's grant at another key's.
{
  const { context, page } = await newPage();
  upstream = config.a.pages;
  mutate = (path, body) => path === `/api/v1/grants/${config.ungranted.key}`
    ? Buffer.from(JSON.stringify({ public_key: config.ungranted.key,
      grants: [{ granted_at_log_index: config.ungranted.other_grant, role: config.ungranted.role, revoked_at_log_index: null }] }))
    : body;
  await page.goto(assemblyPage(proxied, "a"));
  out.ungranted = await verification(page);
  mutate = (_p, body) => body;
  await context.close();
}

// 6. A forked log: the browser saw A's checkpoint, then the same origin serves B's history,
// signed with the same log key.
{
  const { context, page } = await newPage();
  upstream = config.a.pages;
  await page.goto(assemblyPage(proxied, "a"));
  out.forkBefore = await verification(page);
  upstream = config.b.pages;
  await page.goto(assemblyPage(proxied, "b"));
  out.forked = await verification(page);
  await context.close();
}

out.requestsElsewhere = requestsElsewhere;
await browser.close();
proxy.close();
console.log(JSON.stringify(out));
