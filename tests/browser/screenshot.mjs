// Takes the screenshots in docs/: `klero demo --http 127.0.0.1:8080`, then
//   node tests/browser/screenshot.mjs http://127.0.0.1:8080/assemblies/<id> docs/assembly-page.png
//   node tests/browser/screenshot.mjs http://127.0.0.1:8080/assemblies/<id> docs/assembly-answers.png recommendation-R3
// It waits for the page's own check to finish, so the badge shows its result.
import { chromium } from "playwright-core";

const [url, out, anchor] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.KLERO_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1000, height: 1250 } });
await page.goto(url);
await page.evaluate(() => window.kleroVerification);
if (anchor) {
  await page.evaluate((id) => window.scrollTo(0, document.getElementById(id).getBoundingClientRect().top + window.scrollY - 10), anchor);
}
await page.screenshot({ path: out });
await browser.close();
