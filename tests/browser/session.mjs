// What the browser specs share (not a spec itself: node --test runs only *.test.mjs): the
// server run.sh started, a headless Chromium with one page signed in as the administrator,
// that page's script errors, screenshots at desktop and phone widths, and replies posted to
// the generic webhook from Node, as a provider would.

import assert from "node:assert/strict";
import path from "node:path";
import { chromium } from "playwright-core";

export const BASE = process.env.STOPLIST_URL;
export const LOGIN = process.env.STOPLIST_LOGIN ?? "admin";
export const PASSWORD = process.env.STOPLIST_PASSWORD;
export const SHOTS = process.env.SCREENSHOT_DIR ?? "screenshots";

if (!BASE || !PASSWORD) {
  throw new Error("STOPLIST_URL and STOPLIST_PASSWORD must be set (use tests/browser/run.sh)");
}

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

/** Debian's Chromium, headless, with the flags this machine kind needs. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}

/**
 * A browser with one page, signed in: `{ browser, page, consoleErrors }`, where
 * `consoleErrors` collects script errors and Content-Security-Policy violations seen in any
 * page (4xx answers to form posts are expected and not collected).
 */
export async function signedIn({ acceptDownloads = false } = {}) {
  const browser = await launch();
  const context = await browser.newContext({ viewport: DESKTOP, baseURL: BASE, acceptDownloads });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
  });
  await page.goto("/login");
  await page.getByLabel("Login").fill(LOGIN);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Opt Out Manager" }).waitFor();
  return { browser, page, consoleErrors };
}

/** Full-page screenshots of `page` at desktop and phone widths: `{name}-desktop.png`, `-phone`. */
export async function shoot(page, name) {
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

/** Screenshots of one part of `page` (a CSS selector) at desktop and phone widths. */
export async function shootPart(page, selector, name) {
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(size);
    await page.locator(selector).screenshot({ path: path.join(SHOTS, `${name}-${label}.png`) });
  }
  await page.setViewportSize(DESKTOP);
}

/** Posts a reply to the account's generic webhook from Node, as a provider would. */
export async function reply(token, id, from, text) {
  const r = await fetch(`${BASE}/webhooks/generic/${token}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id, from, to: "+61400000000", text, received_at: new Date().toISOString() }),
  });
  const answer = await r.text();
  assert.equal(r.status, 200, `the webhook answered ${r.status}: ${answer}`);
  return JSON.parse(answer);
}
