// The playground in a real browser: Debian's Chromium, driven by playwright-core, on the folder `make web`
// builds (PLAYGROUND_DIR, default ../target/playground), served by a small static server on 127.0.0.1.
// Every request the page makes elsewhere is refused and fails the test: the page must work offline.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const site = path.resolve(process.env.PLAYGROUND_DIR ?? path.join(root, "target", "playground"));
const screenshots = path.join(root, "target", "playground-test");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
};

let server;
let origin;
let browser;

before(async () => {
  server = createServer(async (request, response) => {
    const url = new URL(request.url, "http://localhost");
    const file = path.resolve(site, "." + (url.pathname.endsWith("/") ? url.pathname + "index.html" : url.pathname));
    if (!file.startsWith(site + path.sep)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      response.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // As root in a container: no sandbox. No background networking: this machine has no network to reach.
    // Playwright gives the browser a new empty profile of its own.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** Opens the page; returns it with the list of requests that left 127.0.0.1 and of console errors. */
async function open() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const outside = [];
  const errors = [];
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + "/")) return route.continue();
    outside.push(url);
    return route.abort();
  });
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(origin + "/");
  await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
  return { page, outside, errors };
}

/** The verdicts shown, in order: [{verdict, text}]. */
async function verdicts(page) {
  return page.$$eval("#results li.result", (items) =>
    items.map((item) => ({ verdict: item.dataset.verdict, text: item.textContent })),
  );
}

/** Types `text` into an editor the way a user replaces its content. */
async function replace(page, selector, text) {
  await page.fill(selector, "");
  await page.fill(selector, text);
}

/** Waits until the page has rendered after an edit. */
async function settled(page) {
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

test("the playground decides as the user edits the settings and the manifests", async () => {
  const { page, outside, errors } = await open();

  // Preloaded: the prod/preprod/dev example and a Pod in prod that uses dev-pc.
  const settings = await page.inputValue("#settings");
  const fixture = await readFile(path.join(root, "fixtures", "prod-preprod-dev", "settings.yaml"), "utf8");
  assert.equal(settings, fixture, "the settings editor holds the example");
  let shown = await verdicts(page);
  assert.equal(shown.length, 1);
  assert.equal(shown[0].verdict, "denied");
  assert.match(shown[0].text, /uses PriorityClass "dev-pc", which rule "production" does not allow \(allowed: prod-pc\)/);
  const generated = await page.textContent("#generated");
  assert.match(generated, /kind: ValidatingAdmissionPolicy\n/);
  assert.match(generated, /kind: MutatingAdmissionPolicy\n/);

  // Paste a manifest: a Namespace labelled env=preprod and a Deployment there with prod-pc, and a Pod in prod
  // with no class.
  await replace(
    page,
    "#manifests",
    [
      "apiVersion: v1",
      "kind: Namespace",
      "metadata: {name: shop, labels: {env: preprod}}",
      "---",
      "apiVersion: apps/v1",
      "kind: Deployment",
      "metadata: {name: api, namespace: shop}",
      "spec:",
      "  template:",
      "    spec:",
      "      priorityClassName: prod-pc",
      "      containers: [{name: api, image: api}]",
      "---",
      "apiVersion: v1",
      "kind: Pod",
      "metadata: {name: debug, namespace: prod}",
      "spec:",
      "  priority: 0",
      "  containers: [{name: sh, image: busybox}]",
      "",
    ].join("\n"),
  );
  await settled(page);
  shown = await verdicts(page);
  assert.deepEqual(
    shown.map((s) => s.verdict),
    ["denied", "defaulted"],
  );
  assert.match(shown[0].text, /Deployment "api" in namespace "shop" uses PriorityClass "prod-pc", which rule "preproduction" does not allow/);
  const patch = JSON.parse(await page.textContent("#results li.result:nth-child(2) pre.patch"));
  assert.deepEqual(patch, [
    { op: "add", path: "/spec/priorityClassName", value: "prod-pc" },
    { op: "remove", path: "/spec/priority" },
  ]);

  // Edit the settings: preprod may use prod-pc too. The Deployment is now allowed, and the generated policy
  // says so.
  await replace(page, "#settings", fixture.replace("allowedPriorityClasses: [preprod-pc, dev-pc]", "allowedPriorityClasses: [preprod-pc, dev-pc, prod-pc]"));
  await settled(page);
  shown = await verdicts(page);
  assert.deepEqual(
    shown.map((s) => s.verdict),
    ["allowed", "defaulted"],
  );
  assert.match(await page.textContent("#generated"), /prod-pc/);
  assert.equal(await page.isVisible("#settings-error"), false);

  await page.screenshot({ path: path.join(screenshots, "playground.png"), fullPage: true });

  // Invalid settings: the error, naming the field, is shown next to the settings editor.
  await replace(page, "#settings", fixture.replace("defaultPriorityClass: prod-pc", "defaultPriorityClass: dev-pc"));
  await settled(page);
  assert.equal(await page.isVisible("#settings-error"), true);
  assert.match(await page.textContent("#settings-error"), /rules\[1\]\.defaultPriorityClass/);
  assert.equal((await verdicts(page)).length, 0);
  await page.screenshot({ path: path.join(screenshots, "playground-settings-error.png"), fullPage: true });

  // Invalid YAML in the manifests: the error, with its line, is shown next to the manifest editor.
  await replace(page, "#settings", fixture);
  await replace(page, "#manifests", "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n");
  await settled(page);
  assert.equal(await page.isVisible("#manifests-error"), true);
  assert.match(await page.textContent("#manifests-error"), /invalid YAML: .*line/);
  assert.equal(await page.isVisible("#settings-error"), false);

  // Typed key by key: the namespace of objects that name none. dev-pc is allowed in "default" (fallback),
  // not in "prod".
  await replace(page, "#manifests", "apiVersion: v1\nkind: Pod\nmetadata: {name: tool}\nspec: {priorityClassName: dev-pc, containers: [{name: t, image: t}]}\n");
  await settled(page);
  assert.equal(await page.isVisible("#manifests-error"), false);
  shown = await verdicts(page);
  assert.deepEqual(shown.map((s) => s.verdict), ["allowed"]);
  assert.match(shown[0].text, /in namespace "default"/);
  await page.fill("#namespace", "");
  await page.locator("#namespace").pressSequentially("prod", { delay: 20 });
  await settled(page);
  shown = await verdicts(page);
  assert.deepEqual(shown.map((s) => s.verdict), ["denied"]);
  assert.match(shown[0].text, /Pod "tool" in namespace "prod" uses PriorityClass "dev-pc"/);

  // A rule being rolled out only warns: the Pod is admitted with a distinct WARNED verdict and the message, and the
  // generated YAML binds that rule's policy with validationActions [Warn].
  await replace(page, "#settings", fixture.replace("    defaultPriorityClass: prod-pc\n", "    defaultPriorityClass: prod-pc\n    action: Warn\n"));
  await settled(page);
  assert.equal(await page.isVisible("#settings-error"), false);
  shown = await verdicts(page);
  assert.deepEqual(shown.map((s) => s.verdict), ["warned"]);
  assert.match(shown[0].text, /action Warn/);
  assert.match(shown[0].text, /Pod "tool" in namespace "prod" uses PriorityClass "dev-pc", which rule "production" does not allow/);
  assert.equal(await page.textContent("#results li.result .verdict"), "warned");
  assert.equal(
    await page.$eval("#results li.result .verdict", (el) => getComputedStyle(el).textTransform),
    "uppercase",
    "shown as WARNED",
  );
  assert.notEqual(
    await page.$eval("#results li.result .verdict", (el) => getComputedStyle(el).backgroundColor),
    await page.evaluate(() => {
      const probe = document.createElement("span");
      probe.className = "verdict denied";
      document.body.append(probe);
      const color = getComputedStyle(probe).backgroundColor;
      probe.remove();
      return color;
    }),
    "a warning does not look like a denial",
  );
  assert.match(await page.textContent("#generated"), /validationActions:\n {2}- Warn\n/);
  await page.screenshot({ path: path.join(screenshots, "playground-warned.png"), fullPage: true });
  await replace(page, "#settings", fixture);
  await settled(page);

  // Kubernetes 1.33 has no MutatingAdmissionPolicy: only the validating policy, and a note says why.
  await page.selectOption("#kubernetes-version", "1.33");
  await settled(page);
  const validatingOnly = await page.textContent("#generated");
  assert.match(validatingOnly, /kind: ValidatingAdmissionPolicy\n/);
  assert.doesNotMatch(validatingOnly, /MutatingAdmissionPolicy/);
  assert.match(await page.textContent("#notes"), /Kubernetes 1\.33 has no MutatingAdmissionPolicy/);

  assert.deepEqual(outside, [], "the page requests nothing but its own files");
  assert.deepEqual(errors, [], "no errors in the console");
  await page.close();
});

before(async () => {
  await mkdir(screenshots, { recursive: true });
});
