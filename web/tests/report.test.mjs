// The html page of `priority-guard report` in a real browser: Debian's Chromium, driven by playwright-core, on the
// page `make web-test` writes from the CLI's report fixture (REPORT_HTML, default ../target/report-html/
// report.html). The page is self-contained: any request it makes fails the test. A screenshot is kept next to it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const page_file = path.resolve(process.env.REPORT_HTML ?? path.join(root, "target", "report-html", "report.html"));
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
});

test("the report page draws the preemption matrix as a heat map, offline", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const url = pathToFileURL(page_file).href;
  const requests = [];
  const errors = [];
  await page.route("**/*", (route) => {
    const asked = route.request().url();
    if (asked === url) return route.continue();
    requests.push(asked);
    return route.abort();
  });
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(url);

  assert.equal(await page.title(), "priority-guard report");
  assert.deepEqual(requests, [], "the page fetches nothing");
  assert.deepEqual(errors, []);
  // No skipped input in the fixture: no warning box.
  assert.equal(await page.locator("#skipped").count(), 0);

  // The heat map: a row per namespace, a column per namespace, cells shaded by the memory at stake.
  const heat = page.locator("table#heat-map");
  await heat.waitFor();
  const columns = await heat.locator("thead th.to").allTextContents();
  assert.deepEqual(columns, ["kube-system", "prod", "shop-dev", "shop-preprod"]);
  // kube-system's row: nobody of its own at stake, then prod.
  const row = heat.locator("tbody tr", { has: page.locator("th", { hasText: /^kube-system$/ }) }).locator("td");
  assert.equal(await row.nth(0).textContent(), "·");
  const cell = row.nth(1);
  assert.equal(await cell.textContent(), "5");
  assert.match(await cell.getAttribute("title"), /1 Pods of kube-system can preempt 5 Pods of prod/);
  const shade = await cell.evaluate((td) => getComputedStyle(td).backgroundColor);
  assert.notEqual(shade, "rgba(0, 0, 0, 0)", "the cell is shaded");
  // The most memory at stake is the darkest cell.
  const lightness = await heat.locator("td[style]").evaluateAll((tds) =>
    tds.map((td) => Number(/hsl\(0,75%,(\d+)%\)/.exec(td.getAttribute("style"))[1])));
  assert.equal(Math.min(...lightness), 45);

  // The audit's refusals are marked, and visible.
  const refused = page.locator("table.objects tr.bad");
  assert.equal(await refused.count(), 2);
  assert.ok(await refused.first().isVisible());
  assert.match(await page.locator("table.inversions").textContent(), /Deployment\/tools/);

  await page.screenshot({ path: path.join(path.dirname(page_file), "report.png"), fullPage: true });
  await page.close();
});
