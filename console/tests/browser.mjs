// What the console's browser tests and benchmark share: Chromium (the Debian package,
// through playwright-core; never a browser download), the server under test, screenshots.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const URL_ = process.env.DYNTAG_HTTP_URL ?? "http://127.0.0.1:8080";
export const TOKEN = process.env.DYNTAG_TOKEN ?? "";
export const SHOTS = process.env.DYNTAG_SCREENSHOTS ?? join(fileURLToPath(new URL("..", import.meta.url)), "test-results");
mkdirSync(SHOTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: process.env.DYNTAG_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--headless"],
  });
}

/** A new page that fails the test on a page error or a request to another origin. */
export async function newPage(browser, problems) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  context.setDefaultTimeout(Number(process.env.DYNTAG_UI_TIMEOUT_MS ?? 20000));
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(URL_) && !u.startsWith("blob:") && !u.startsWith("data:")) problems.push(`request to another origin: ${u}`);
  });
  return page;
}

export async function signIn(page, token, user) {
  await page.goto(`${URL_}/#/query`);
  if (user) await page.fill("input[name=user]", user);
  await page.fill("input[name=token]", token);
  await page.click("form.signin button[type=submit]");
  await page.waitForSelector("header.top");
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** Calls the HTTP API as `token` (from the test, not the page). */
export async function call(method, path, token, body) {
  const res = await fetch(`${URL_}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function sql(token, statement) {
  const r = await call("POST", "/api/sql", token, { sql: statement, dataset: "demo" });
  if (r.status !== 200) throw new Error(`${statement}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.rows;
}

/** Empties the editor. */
export async function clearEditor(page) {
  await page.click(".cm-content");
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
}

/** Puts `text` in the editor and runs it with `keys` (the statement under the cursor). */
export async function editorRun(page, text, keys = "Control+Enter") {
  await clearEditor(page);
  await page.keyboard.insertText(text);
  await page.keyboard.press(keys);
}
