// Reports → Incoming as a person uses it, in headless Chromium: replies arrive through the
// generic webhook (posted from Node, as a provider would), the main nav's Reports link opens
// the report, a number filter narrows the table, and the CSV button downloads the filtered
// report, which is read back. Screenshots at 1280 and 390 px wide.
//
// Its replies use their own numbers (0413 800 00x) and texts that are not opt-outs, so the
// opt-out list is unchanged. The other specs count replies only before this file runs
// (node --test runs the files in name order, one at a time on this machine). Run through
// run.sh (STOPLIST_URL, STOPLIST_PASSWORD…).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import { signedIn, shoot as shootPage, reply, PHONE, DESKTOP } from "./session.mjs";

let browser;
let page;
/** Script errors and Content-Security-Policy violations seen in any page. */
let consoleErrors;

before(async () => {
  ({ browser, page, consoleErrors } = await signedIn({ acceptDownloads: true }));
});

after(async () => {
  await browser?.close();
});

/** Full-page screenshots of the current page at desktop and phone widths. */
const shoot = (name) => shootPage(page, name);

test("reports: Incoming lists replies, filters them, and the CSV button downloads the filtered report", async () => {
  await page.goto("/settings");
  const token = (await page.locator("#webhooks dl.pairs dd code").first().textContent()).trim();
  assert.match(token, /^\S{16,}$/);
  const a = await reply(token, "rep-1", "0413800001", "What time do you open on Saturday?");
  assert.equal(a.classification, "other");
  await reply(token, "rep-2", "0413800002", "=1+1 is what the flyer said");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Reports" }).click();
  await page.getByRole("heading", { name: "Reports", level: 1 }).waitFor();
  await page.getByRole("link", { name: "Incoming", exact: true }).waitFor();
  const rows = page.locator("table.replies tbody tr");
  await rows.filter({ hasText: "+61413800001" }).getByText("What time do you open on Saturday?").waitFor();
  await rows.filter({ hasText: "+61413800002" }).waitFor();
  const scrolls = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(scrolls, false, "no horizontal scroll at desktop width");

  await page.getByLabel("Number").fill("0413 800 002");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/number=0413/);
  assert.equal(await rows.count(), 1);
  await rows.getByText("=1+1 is what the flyer said").waitFor();
  await shoot("reports-incoming");
  await page.setViewportSize(PHONE);
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth), false, "nor on a phone");
  await page.setViewportSize(DESKTOP);

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "CSV file of the Incoming report" }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^incoming-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = (await fs.readFile(await download.path(), "utf8")).replace(/^\uFEFF/, "");
  const lines = csv.trim().split("\r\n");
  assert.equal(lines[0], "received_at,from,to,text,class,tier,matched_campaign,actions");
  assert.equal(lines.length, 2, `only the filtered reply: ${csv}`);
  assert.match(lines[1], /'\+61413800002,'\+61400000000,'=1\+1 is what the flyer said,other,/);
});

test("reports: a bad date is shown beside its field, with the focus on it", async () => {
  await page.goto("/reports/incoming?from=2026-02-30");
  await page.locator("#filter-from-error").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "filter-from", "focus is on the filter at fault");
  assert.equal(await page.getByRole("link", { name: /file of the Incoming report/ }).count(), 0, "no export of a bad filter");
});

test("no reports page raised a script error or broke the Content-Security-Policy", () => {
  assert.deepEqual(consoleErrors, []);
});
