// The Campaigns pages and Settings → Connector as a person uses them, in headless Chromium:
// the empty list, a group with an opted-out member, the New campaign form with its live
// counter and a field error, the preview with the Invalid Numbers list, Send, the status page
// updating itself (htmx polling) until every message is sent through the server's default
// `log` connector, and the connector form's errors. Screenshots at 1280 and 390 px wide.
//
// Self-contained: it makes its own group and numbers (0413 600 00x), so it does not depend on
// the order of the other spec files. Run through run.sh (STOPLIST_URL, STOPLIST_PASSWORD…).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { signedIn, shoot as shootPage, shootPart } from "./session.mjs";

const GROUP = "Campaign test";

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

/** The value shown for `label` in a counts table. */
async function count(label) {
  const row = page.locator("table.counts tr").filter({ has: page.getByRole("rowheader", { name: label, exact: true }) });
  return (await row.locator("td").textContent()).trim();
}

test("campaigns: the empty list says what to do next", async () => {
  await page.getByRole("link", { name: "Campaigns" }).click();
  await page.getByRole("heading", { name: "Campaigns", exact: true }).waitFor();
  await page.getByText("No campaigns yet — create one").waitFor();
  await shoot("campaigns-empty");
});

test("campaigns: a group of two, one of them opted out afterwards", async () => {
  await page.goto("/contacts");
  await page.getByLabel("New group name").fill(GROUP);
  await page.getByRole("button", { name: "Create group" }).click();
  await page.getByText("Group created.").waitFor();
  for (const n of ["0413 600 001", "0413 600 002"]) {
    await page.getByLabel("Mobile number").fill(n);
    await page.getByRole("button", { name: "Add contact" }).click();
    await page.getByText("Contact added.").waitFor();
  }
  await page.goto("/optouts");
  await page.getByLabel("Mobile number").fill("0413 600 002");
  await page.getByRole("button", { name: "Add to opt-out list" }).click();
  await page.getByText("Number added to the opt-out list.").waitFor();
});

test("campaigns: the form counts the message live and shows an error beside its field", async () => {
  await page.goto("/campaigns");
  await page.getByRole("link", { name: "New campaign" }).click();
  await page.getByRole("heading", { name: "New campaign" }).waitFor();
  await page.getByLabel("Campaign name").fill("Browser spring sale");
  await page.getByLabel("Sender id").fill("Far too long a sender");
  const message = page.getByLabel("Message", { exact: true });
  await message.pressSequentially("Spring sale: 20% off today only");
  // htmx asks the server to count it, footer included, as it is typed.
  await page.getByText(/\d+ characters · 1 SMS segment \(GSM-7\), with the opt-out footer/).waitFor();
  await message.pressSequentially(" ☕");
  await page.getByText(/These characters make it UCS-2/).waitFor();
  await message.press("Backspace");
  await message.press("Backspace");
  await page.getByText(/SMS segment \(GSM-7\)/).waitFor();
  await page.getByLabel(new RegExp(`^${GROUP}`)).check();
  await page.getByLabel("Numbers (optional)", { exact: true }).fill("0413 600 003\n12345");
  await shoot("campaign-new");

  await page.getByRole("button", { name: "Save and preview" }).click();
  const sender = page.getByLabel("Sender id");
  await page.locator("#sender_id-error").waitFor();
  assert.equal(await sender.getAttribute("aria-invalid"), "true");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "sender_id", "focus is on the field at fault");
  assert.equal(await page.getByLabel("Campaign name").inputValue(), "Browser spring sale", "typed values are kept");
  assert.equal(await page.getByLabel(new RegExp(`^${GROUP}`)).isChecked(), true);
  await shoot("campaign-new-error");

  await sender.fill("AcmeShop");
  await page.getByRole("button", { name: "Save and preview" }).click();
  await page.getByRole("heading", { level: 1, name: "Browser spring sale" }).waitFor();
});

test("campaigns: the preview lists the opted-out member as an invalid number", async () => {
  await page.getByText("Draft saved. Check the preview below").waitFor();
  assert.equal(await count("Numbers read"), "4");
  assert.equal(await count("Invalid"), "1");
  assert.equal(await count("Opted out (excluded)"), "1");
  assert.equal(await count("Recipients"), "2");
  const invalid = page.locator("section", { has: page.getByRole("heading", { name: "Invalid Numbers" }) });
  const opted = invalid.getByRole("row").filter({ hasText: "+61413600002" });
  await opted.getByText("Opted out").waitFor();
  await opted.getByText(`group ${GROUP}`).waitFor();
  await opted.getByText("manual").waitFor();
  await invalid.getByRole("row").filter({ hasText: "12345" }).getByText("Invalid for region").waitFor();
  await shoot("campaign-preview");
});

test("campaigns: Send queues the messages and the status page follows them until sent", async () => {
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.getByText("Sending started").waitFor();
  // The log connector sends within a second or two; htmx polls the counts every 2 s.
  await page.locator("#campaign-live").getByText("Done", { exact: true }).waitFor({ timeout: 20_000 });
  await page.locator("#campaign-live").getByText("2 of 2 sent").waitFor();
  assert.equal(await count("Sent"), "2");
  assert.equal(await page.getByRole("button", { name: "Pause" }).count(), 0, "nothing left to pause");
  const messages = page.locator("#campaign-messages");
  await messages.getByRole("rowheader", { name: "+61413600001" }).waitFor();
  await messages.getByRole("rowheader", { name: "+61413600003" }).waitFor();
  assert.equal(await messages.getByText("+61413600002").count(), 0, "the opted-out number got nothing");
  await shoot("campaign-status");

  await page.getByRole("link", { name: "← Campaigns" }).click();
  const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "Browser spring sale" }) });
  await row.getByText("2 sent of 2").waitFor();
  await shoot("campaigns");
});

test("settings: the connector refuses Twilio without a secret, beside the field", async () => {
  await page.goto("/settings");
  const card = page.locator("#connector");
  await card.getByLabel("Connector").selectOption({ label: "Twilio" });
  await card.getByLabel("Account id").fill("AC0000000000000000000000000000000a");
  await card.getByRole("button", { name: "Save connector" }).click();
  await page.locator("#connector-secret-error").waitFor();
  assert.equal(await page.locator("#connector").getByLabel("Secret").getAttribute("aria-invalid"), "true");
  assert.equal(await page.locator("#connector").getByLabel("Account id").inputValue(), "AC0000000000000000000000000000000a");
  await shootPart(page, "#connector", "settings-connector-error");

  await page.locator("#connector").getByLabel("Connector").selectOption({ label: "Log only (nothing leaves this server)" });
  await page.locator("#connector").getByRole("button", { name: "Save connector" }).click();
  await page.getByText("Connector saved.").waitFor();
});

test("no campaign page raised a script error or broke the Content-Security-Policy", () => {
  assert.deepEqual(consoleErrors, []);
});
