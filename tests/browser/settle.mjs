// Times pages in Debian's headless Chromium for klero-bench's `browser` bench (BENCHMARKS.md).
// Usage: node settle.mjs <config.json>, where the config is
//   { "chromium": path, "contexts": 5, "pages": [{ "name": ..., "url": ... }] }.
// For each page it opens `contexts` fresh browser contexts (no cache, nothing pinned: a first
// visit each time) and measures, from navigation start:
//   - with JavaScript, the moment the page's own check settles its badge (window.kleroOutcome);
//   - without JavaScript, the load event: the same page as served, unchecked (the baseline).
// and the bytes on the wire (bodies as sent, compressed where the server compressed them).
// It prints one line "RESULT <json>"; klero-bench takes the medians.
import { readFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const config = JSON.parse(await readFile(process.argv[2], "utf8"));
const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

async function visit(url, javaScriptEnabled) {
  const context = await browser.newContext({ javaScriptEnabled });
  const page = await context.newPage();
  const transfers = [];
  page.on("requestfinished", (request) => {
    transfers.push(request.sizes().then((sizes) => ({
      path: new URL(request.url()).pathname,
      bytes: sizes.responseBodySize + sizes.responseHeadersSize,
    })).catch(() => null));
  });
  await page.goto(url, { waitUntil: "load" });
  let milliseconds;
  let state = null;
  if (javaScriptEnabled) {
    await page.waitForFunction(() => window.kleroOutcome, null, { timeout: 60000 });
    const outcome = await page.evaluate(() => window.kleroOutcome);
    milliseconds = outcome.settledAt;
    state = outcome.state;
  } else {
    milliseconds = await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd);
  }
  // Every request the page makes (the favicon may come last), then their sizes.
  await page.waitForLoadState("networkidle");
  const fetched = (await Promise.all(transfers)).filter((f) => f !== null);
  await context.close();
  return { milliseconds, state, bytes: fetched.reduce((sum, f) => sum + f.bytes, 0), requests: fetched };
}

const results = [];
for (const { name, url } of config.pages) {
  const checked = [];
  const unchecked = [];
  // Alternate, so that the machine's noise falls on both alike.
  for (let i = 0; i < config.contexts; i++) {
    checked.push(await visit(url, true));
    unchecked.push(await visit(url, false));
  }
  results.push({ name, url, checked, unchecked });
}
await browser.close();
process.stdout.write(`RESULT ${JSON.stringify(results)}\n`);
