// The Replies pages and Settings → Keywords and Notifications as a person uses them, in
// headless Chromium: replies arrive through the generic webhook (posted from Node, as a
// provider would), the list shows them with their classification, a filter narrows it, the
// review queue holds the unclear one, Confirm opt-out decides it and the queue is empty; then
// a keyword row with an error, "Add a row", and the notification endpoint whose secret is
// never shown again. Screenshots at 1280 and 390 px wide.
//
// Self-contained: its own numbers (0413 700 00x); no other spec posts replies. Run through
// run.sh (STOPLIST_URL, STOPLIST_PASSWORD…).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { signedIn, shoot as shootPage, shootPart, reply, PHONE, DESKTOP } from "./session.mjs";

let browser;
let page;
/** Script errors and Content-Security-Policy violations seen in any page. */
let consoleErrors;

before(async () => {
  ({ browser, page, consoleErrors } = await signedIn());
});

after(async () => {
  await browser?.close();
});

/** Full-page screenshots of the current page at desktop and phone widths. */
const shoot = (name) => shootPage(page, name);

test("replies: the empty list says where to point the webhook", async () => {
  await page.getByRole("link", { name: "Replies", exact: true }).click();
  await page.getByRole("heading", { name: "Replies", level: 1 }).waitFor();
  await page.getByText("No replies yet — point your provider's webhook at the URL in Settings").waitFor();
  await shoot("replies-empty");
});

test("replies: posted replies are listed with their classification, and a filter narrows them", async () => {
  await page.goto("/settings");
  const token = (await page.locator("#webhooks dl.pairs dd code").first().textContent()).trim();
  assert.match(token, /^\S{16,}$/);
  await reply(token, "b1", "0413700001", "STOP");
  await reply(token, "b2", "0413700002", "stop by the store at 5");
  const unclear = await reply(token, "b3", "+61413700003", "STOP what?");
  assert.equal(unclear.classification, "unclear");
  await reply(
    token,
    "b4",
    "+61413700004",
    "Got your message about the sale, see https://example.com/a/very/long/link/that/keeps/going/without/any/spaces/at/all/0123456789abcdef",
  );

  await page.getByRole("link", { name: "Replies", exact: true }).click();
  const rows = page.locator("table.replies tbody tr");
  assert.equal(await rows.count(), 4);
  await rows.filter({ hasText: "+61413700001" }).getByText("Opt-out", { exact: true }).waitFor();
  await rows.filter({ hasText: "stop by the store at 5" }).getByText("not a request").waitFor();
  await rows.filter({ hasText: "STOP what?" }).getByText("Awaiting review").waitFor();
  await page.getByRole("link", { name: /Review queue 1 awaiting review/ }).waitFor();
  // A long text wraps inside its cell: the page never scrolls sideways.
  const scrolls = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(scrolls, false, "no horizontal scroll at desktop width");
  await shoot("replies-list");
  await page.setViewportSize(PHONE);
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth), false, "nor on a phone");
  await page.setViewportSize(DESKTOP);

  await page.getByLabel("Classification").selectOption("unclear");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/class=unclear/);
  assert.equal(await rows.count(), 1);
  await rows.getByText("STOP what?").waitFor();

  await page.getByLabel("From date").fill("2026-02-28");
  await page.getByLabel("To date").fill("2026-02-01");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.locator("#filter-to-error").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "filter-to", "focus is on the filter at fault");
  await shoot("replies-filter-error");
  await page.getByRole("link", { name: "Clear filters" }).click();
  assert.equal(await rows.count(), 4);
});

test("replies: the review queue holds the unclear reply; Confirm opt-out empties it", async () => {
  await page.getByRole("link", { name: /Review queue/ }).click();
  await page.getByRole("heading", { name: "Review queue", level: 1 }).waitFor();
  const rows = page.locator("table.replies tbody tr");
  assert.equal(await rows.count(), 1);
  await rows.getByText("STOP what?").waitFor();
  await shoot("replies-review");

  await page.getByRole("button", { name: "Confirm opt-out of +61413700003" }).click();
  await page.getByRole("status").filter({ hasText: "Opt-out confirmed" }).waitFor();
  await page.getByText("No replies wait for review").waitFor();
  assert.equal(await rows.count(), 0);
  assert.equal(await page.getByText("awaiting review").count(), 0, "no count on the tab");
  await shoot("replies-review-done");

  await page.getByRole("link", { name: "All replies", exact: true }).click();
  await page.locator("table.replies tbody tr").filter({ hasText: "STOP what?" }).getByText(/Confirmed by/).waitFor();
  await page.goto("/optouts?q=0413700003");
  await page.locator("#optouts-results").getByText("+61413700003").waitFor();
});

test("settings: keywords are rows; an error is shown on its row; Add a row adds one", async () => {
  await page.goto("/settings#keywords");
  await page.getByLabel("Keyword 1", { exact: true }).fill("Pineapple");
  await page.getByRole("button", { name: "Add a row" }).click();
  await page.getByLabel("Keyword 2", { exact: true }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "kw-1-keyword", "the new row has the focus");
  assert.equal(await page.getByLabel("Keyword 1", { exact: true }).inputValue(), "Pineapple", "typed rows are kept");
  await page.getByLabel("Keyword 2", { exact: true }).fill("!!!");
  await page.getByRole("button", { name: "Save keywords" }).click();
  await page.locator("#kw-1-error").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), "kw-1-keyword", "focus is on the row at fault");
  await shootPart(page, "#keywords", "settings-keywords-error");

  await page.getByLabel("Remove keyword 2").check();
  await page.getByRole("button", { name: "Save keywords" }).click();
  await page.getByText("Keywords saved.").waitFor();
  assert.equal(await page.getByLabel("Keyword 1", { exact: true }).inputValue(), "pineapple");
});

test("settings: the notification secret is write-only and deliveries are listed", async () => {
  await page.goto("/settings#notifications");
  const secret = "whsec_browser_0123456789";
  await page.getByLabel("Endpoint URL").fill("http://127.0.0.1:9/stoplist-events");
  await page.getByLabel("Signing secret").fill(secret);
  await page.getByRole("button", { name: "Save notifications" }).click();
  await page.getByText("Notification endpoint saved.").waitFor();
  assert.equal(await page.getByLabel("Signing secret").inputValue(), "");
  await page.getByText("A secret is stored; leave this blank to keep it.").waitFor();
  assert.equal((await page.content()).includes(secret), false, "the secret is not in the page");

  // An opt-out now is queued for the endpoint (which refuses connections) and listed.
  await page.goto("/settings");
  const token = (await page.locator("#webhooks dl.pairs dd code").first().textContent()).trim();
  await reply(token, "b5", "+61413700005", "UNSUBSCRIBE");
  await page.reload();
  await page.locator("#notifications tbody tr").filter({ hasText: "Opted out" }).first().waitFor();
  await shootPart(page, "#notifications", "settings-notifications");
});

test("no replies page raised a script error or broke the Content-Security-Policy", () => {
  assert.deepEqual(consoleErrors, []);
});
