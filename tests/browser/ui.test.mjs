// The web UI as a person uses it, in headless Chromium: log in, change the Opt Outs
// settings, add and remove an opt-out and read its history, contacts, the CSRF refusal, an
// empty search, importing contacts and uploading numbers to the Opt Out Manager (preview, dry
// run, progress, report, rejected rows), and screenshots at desktop and phone widths.
//
// Run through run.sh, which starts a fresh server and sets STOPLIST_URL, STOPLIST_LOGIN,
// STOPLIST_PASSWORD and SCREENSHOT_DIR.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import os from "node:os";
import fs from "node:fs/promises";
import { chromium } from "playwright-core";

const BASE = process.env.STOPLIST_URL;
const LOGIN = process.env.STOPLIST_LOGIN ?? "admin";
const PASSWORD = process.env.STOPLIST_PASSWORD;
const SHOTS = process.env.SCREENSHOT_DIR ?? "screenshots";

if (!BASE || !PASSWORD) {
  throw new Error("STOPLIST_URL and STOPLIST_PASSWORD must be set (use tests/browser/run.sh)");
}

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 812 };

let browser;
let context;
let page;
/** Script errors and Content-Security-Policy violations seen in any page. */
const consoleErrors = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  context = await browser.newContext({ viewport: DESKTOP, baseURL: BASE });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("console", (m) => {
    // 4xx answers to form posts are expected here (wrong password, invalid input).
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
  });
});

after(async () => {
  await browser?.close();
  await Promise.all(tempDirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

/** Full-page screenshots of the current page at desktop and phone widths. */
async function shoot(name) {
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(size);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

test("a wrong password is refused with a message, the right one logs in", async () => {
  await page.goto("/");
  assert.match(new URL(page.url()).pathname, /^\/login$/);
  await shoot("login");
  await page.getByLabel("Login").fill(LOGIN);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByText("Wrong login or password.").waitFor();
  await shoot("login-error");

  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Opt Out Manager" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/optouts");
  await page.getByText(LOGIN, { exact: false }).first().waitFor();
});

test("settings: the dependent checkbox follows the first, and Update Settings saves", async () => {
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Settings", exact: true }).waitFor();
  const autoDelete = page.getByLabel("Automatically delete Opt Outs from Contacts");
  const allGroups = page.getByLabel("Recipient Opt Out removes user from all groups?");
  assert.equal(await autoDelete.isChecked(), false);
  assert.equal(await allGroups.isDisabled(), true, "inactive while the first is off");
  await page.getByText("has no effect unless Automatically delete Opt Outs from Contacts is on").waitFor();
  assert.equal(await page.getByLabel("Enforce Global Optouts").isChecked(), true);
  await shoot("settings");

  await autoDelete.check();
  assert.equal(await allGroups.isEnabled(), true, "enabled live once the first is on");
  assert.equal(
    await page.getByText("has no effect unless Automatically delete Opt Outs from Contacts is on").isVisible(),
    false,
  );
  await allGroups.check();
  await page.getByRole("button", { name: "Update Settings" }).click();
  await page.getByText("Settings updated").waitFor();

  await page.reload();
  assert.equal(await page.getByLabel("Automatically delete Opt Outs from Contacts").isChecked(), true);
  assert.equal(await page.getByLabel("Recipient Opt Out removes user from all groups?").isChecked(), true);
  assert.equal(await page.getByLabel("Recipient Opt Out removes user from all groups?").isEnabled(), true);
  const history = page.locator("section", { has: page.getByRole("heading", { name: "Recent changes" }) });
  await history.getByText("Automatically delete Opt Outs from Contacts").waitFor();
  await history.getByText(`user ${LOGIN}`).first().waitFor();
});

test("settings: an empty help text is shown beside the field and nothing is saved", async () => {
  await page.goto("/settings");
  await page.getByLabel("Enforce Global Optouts").uncheck();
  await page.getByLabel("Help text").fill("   ");
  // The browser's own `required` check would stop an empty field; spaces reach the server.
  await page.getByRole("button", { name: "Update Settings" }).click();
  await page.getByText("Help text must not be empty").waitFor();
  assert.equal(await page.getByLabel("Enforce Global Optouts").isChecked(), false, "typed values are kept");
  await shoot("settings-error");
  await page.goto("/settings");
  assert.equal(await page.getByLabel("Enforce Global Optouts").isChecked(), true, "nothing was saved");
});

test("opt-outs: add 0412 999 888, remove it with a reason, and read both events", async () => {
  await page.getByRole("link", { name: "Opt Out Manager" }).click();
  await page.getByLabel("Mobile number").fill("0412 999 888");
  await page.getByRole("button", { name: "Add to opt-out list" }).click();
  await page.getByText("Number added to the opt-out list.").waitFor();
  const results = page.locator("#optouts-results");
  await results.getByRole("link", { name: "+61412999888" }).waitFor();
  await shoot("optouts");

  const row = results.getByRole("row").filter({ has: page.getByRole("link", { name: "+61412999888" }) });
  await row.getByText("Remove…").click();
  await row.getByLabel("Reason for removing +61412999888").fill("added by mistake in the browser test");
  await row.getByRole("button", { name: "Remove opt-out" }).click();
  await page.getByText("Opt-out removed.").waitFor();
  assert.equal(await page.locator("#optouts-results").getByText("+61412999888").count(), 0);

  await page.goto("/optouts/%2B61412999888");
  await page.getByRole("heading", { name: "History of +61412999888" }).waitFor();
  const events = page.locator("table.list tbody tr");
  assert.equal(await events.count(), 2);
  await events.nth(0).getByText("Opted out").waitFor();
  await events.nth(1).getByText("Opted in").waitFor();
  await events.nth(1).getByText("added by mistake in the browser test").waitFor();
  await page.getByText("Not opted out").waitFor();
  await shoot("optout-history");
});

test("opt-outs: an invalid number shows its reason beside the field", async () => {
  await page.goto("/optouts");
  await page.getByLabel("Mobile number").fill("12345");
  await page.getByRole("button", { name: "Add to opt-out list" }).click();
  await page.getByText(/Invalid number \(/).waitFor();
  assert.equal(await page.getByLabel("Mobile number").inputValue(), "12345");
  assert.equal(await page.getByLabel("Mobile number").getAttribute("aria-invalid"), "true");
});

test("a reply opt-out under Enforce Global Optouts offers no removal", async () => {
  await page.goto("/optouts");
  const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "+61412345602" }) });
  await row.getByText("only the number can lift it, by replying START").waitFor();
  assert.equal(await row.getByText("Remove…").count(), 0);
});

test("a search that finds nothing says what to do next (live, with htmx)", async () => {
  await page.goto("/optouts");
  await page.getByLabel("Search numbers").pressSequentially("555000111");
  await page.getByText("No opted-out number matches your search").waitFor();
  // The live search keeps the address in step, so the page can be reloaded or shared.
  await page.waitForURL(/q=555000111/);
  await shoot("optouts-empty-search");
  await page.getByLabel("Search numbers").fill("");
  await page.getByLabel("Search numbers").press("Enter");
  await page.locator("#optouts-results table").waitFor();
});

test("a form posted without its CSRF token is refused with 403 and changes nothing", async () => {
  const before = await page.request.get("/optouts?q=412777666");
  assert.equal(before.status(), 200);
  const refused = await page.request.post("/optouts", { form: { number: "0412 777 666" } });
  assert.equal(refused.status(), 403);
  const wrong = await page.request.post("/optouts", { form: { number: "0412 777 666", csrf_token: "0".repeat(64) } });
  assert.equal(wrong.status(), 403);
  await page.goto("/optouts?q=0412777666");
  await page.getByText("No opted-out number matches your search").waitFor();
});

test("contacts: groups, an opted-out number is refused, badges, delete with confirmation", async () => {
  await page.getByRole("link", { name: "Contacts" }).click();
  await page.getByRole("heading", { name: "Contacts", exact: true }).waitFor();
  const groups = page.getByRole("region", { name: "Groups" });
  await groups.getByRole("link", { name: "Customers" }).waitFor();
  await page.getByLabel("New group name").fill("Browser <b>test</b>");
  await page.getByRole("button", { name: "Create group" }).click();
  await page.getByText("Group created.").waitFor();
  await page.getByRole("heading", { level: 1, name: "Browser <b>test</b>" }).waitFor();
  await page.getByText("No contacts in this group yet — add one above.").waitFor();
  await shoot("group-empty");

  await page.getByLabel("Mobile number").fill("0412 345 602");
  await page.getByRole("button", { name: "Add contact" }).click();
  await page.getByText("+61412345602 is on the opt-out list, so it cannot be added as a contact").waitFor();

  await page.getByLabel("Mobile number").fill("0412 111 222");
  await page.getByLabel("First name").fill("Zoë");
  await page.getByRole("button", { name: "Add contact" }).click();
  await page.getByText("Contact added.").waitFor();
  const contacts = page.locator("#contacts-results");
  await contacts.getByRole("rowheader", { name: "+61412111222" }).waitFor();

  page.once("dialog", (d) => d.accept());
  await contacts.getByRole("button", { name: "Delete +61412111222" }).click();
  await page.getByText("Contact deleted").waitFor();

  await page.goto("/contacts");
  await page.getByRole("region", { name: "Groups" }).getByRole("link", { name: "Customers" }).click();
  await page.locator("#contacts-results").getByRole("link", { name: "Opted out" }).first().waitFor();
  await shoot("group");
  await page.goto("/contacts");
  await shoot("contacts");
});

/** Writes `text` to a new file named `name` in a fresh temporary directory; returns its path. */
const tempDirs = [];
async function tempFile(name, text) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "stoplist-ui-test-"));
  tempDirs.push(dir);
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return file;
}

/** The value shown for `label` in an import report's counts. */
async function count(label) {
  const row = page.locator("table.counts tr").filter({ has: page.getByRole("rowheader", { name: label, exact: true }) });
  return (await row.locator("td").textContent()).trim();
}

test("import: the reset reason shows only when reset is on, and is then required", async () => {
  await page.goto("/contacts");
  await page.getByRole("link", { name: "Import contacts" }).click();
  await page.getByRole("heading", { name: "Import contacts" }).waitFor();
  const reset = page.getByLabel("Reset contacts that have previously opted out?");
  const reason = page.getByLabel(/Reason for the reset/);
  assert.equal(await reset.isChecked(), false, "off by default");
  assert.equal(await reason.isVisible(), false);
  await reset.check();
  assert.equal(await reason.isVisible(), true);
  assert.equal(await reason.evaluate((e) => e.required), true);
  await shoot("import-form");
  await reset.uncheck();
  assert.equal(await reason.isVisible(), false);

  // Spaces pass the browser's own check and reach the server, which refuses them.
  const file = await tempFile("reset.csv", "Mobile\n0412 777 101\n");
  await page.getByLabel("Group", { exact: true }).selectOption({ label: "Customers" });
  await page.getByLabel("File", { exact: true }).setInputFiles(file);
  await reset.check();
  await reason.fill("   ");
  await page.getByRole("button", { name: "Preview" }).click();
  await page.getByText("Give a reason to reset contacts that have previously opted out").waitFor();
  assert.equal(await reset.isChecked(), true, "typed values are kept");
  assert.equal(await reason.isVisible(), true);
  await shoot("import-form-error");
});

test("import: a CSV with an opted-out number, previewed, dry run, imported, with its report and rejected rows", async () => {
  const file = await tempFile(
    "spring-customers.csv",
    "Mobile,First Name,Last Name,Email\n" +
      "0412 777 001,Ava,Lee,ava@example.com\n" +
      "0412 345 602,Jack,Nguyen,\n" +
      "+61 412 777 003,Ben,Ng,ben@example.com\n" +
      "0412777001,Ava,Lee,ava@example.com\n" +
      "not a number,Bad,Row,\n",
  );
  await page.goto("/contacts/import");
  await page.getByLabel("Group", { exact: true }).selectOption({ label: "Customers" });
  await page.getByLabel("File", { exact: true }).setInputFiles(file);
  await page.getByRole("button", { name: "Preview" }).click();
  await page.getByRole("heading", { name: "Preview of “spring-customers.csv”" }).waitFor();
  assert.equal(await page.getByLabel("Mobile number").inputValue(), "0", "the guessed mobile column");
  assert.equal(await page.getByLabel("Email").inputValue(), "3");
  await page.getByRole("columnheader", { name: /First Name/ }).getByText("First name").waitFor();
  await shoot("import-preview");

  await page.getByRole("button", { name: "Dry run" }).click();
  await page.getByText("nothing was changed — run the import to apply it").waitFor();
  await page.getByRole("heading", { name: "What the import would do" }).waitFor();
  assert.equal(await count("Imported (new contacts)"), "2");
  await shoot("import-dry-run");

  await page.getByRole("button", { name: "Import it now" }).click();
  await page.getByRole("heading", { name: "Report" }).waitFor();
  await page.getByText("Import finished.").waitFor();
  assert.equal(await count("Rows read"), "5");
  assert.equal(await count("Imported (new contacts)"), "2");
  assert.equal(await count("Duplicates within the file"), "1");
  assert.equal(await count("Invalid"), "1");
  assert.equal(await count("Skipped as opted out"), "1");
  await shoot("import-report");

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download rejected rows (CSV)" }).click(),
  ]);
  const csv = await fs.readFile(await download.path(), "utf8");
  const lines = csv.trim().split("\n");
  assert.equal(lines[0], "row,value,reason");
  assert.equal(lines.length, 4, csv);
  assert.match(csv, /^3,'\+61412345602,opted out$/m);

  await page.getByRole("link", { name: "Customers" }).click();
  await page.locator("#contacts-results").getByRole("rowheader", { name: "+61412777003" }).waitFor();
  await page.goto("/contacts/import");
  await page.getByRole("region", { name: "Recent imports" }).getByRole("link", { name: "spring-customers.csv" }).first().waitFor();
});

test("import: a large file shows its progress, then its report, without a reload", async () => {
  let text = "Mobile,First Name\n";
  for (let i = 0; i < 300000; i++) text += `04${String(20000000 + i)},Person ${i}\n`;
  const file = await tempFile("large.csv", text);
  await page.goto("/contacts/import");
  await page.getByLabel("Group", { exact: true }).selectOption({ label: "VIP" });
  await page.getByLabel("File", { exact: true }).setInputFiles(file);
  await page.getByRole("button", { name: "Preview" }).click();
  await page.getByRole("button", { name: "Dry run" }).click();
  await page.waitForURL(/\/imports\/\d+/);
  // A fast machine may finish before the page shows; the progress is shot when it is seen.
  const running = page.getByText(/rows read so far|Reading the file…/);
  if (await running.isVisible()) {
    await shoot("import-progress");
  }
  // htmx polls the status every second and swaps the report in when the run ends.
  await page.getByRole("heading", { name: "What the import would do" }).waitFor({ timeout: 60_000 });
  assert.equal(await count("Rows read"), "300,000");
});

test("opt-outs: upload a file of numbers and see them in the list", async () => {
  const file = await tempFile("numbers.txt", "0413 555 001\n0413 555 002\n0498 765 432\n");
  await page.goto("/optouts");
  const card = page.getByRole("region", { name: "Upload a file of numbers" });
  await card.getByLabel("File").setInputFiles(file);
  await card.getByRole("button", { name: "Preview" }).click();
  await page.getByRole("heading", { name: "Preview of “numbers.txt”" }).waitFor();
  await page.getByText("the opt-out list (source: upload)").waitFor();
  await shoot("optouts-upload-preview");
  await page.getByRole("button", { name: "Upload to the opt-out list" }).click();
  await page.getByText("Upload finished.").waitFor();
  assert.equal(await count("Added to the opt-out list"), "2");
  assert.equal(await count("Already on the opt-out list"), "1");
  await shoot("optouts-upload-report");

  await page.getByRole("link", { name: "the opt-out list", exact: true }).click();
  await page.getByRole("heading", { name: "Opt Out Manager" }).waitFor();
  const results = page.locator("#optouts-results");
  await results.getByRole("link", { name: "+61413555001" }).waitFor();
  await results.getByRole("link", { name: "+61413555002" }).waitFor();
});

test("logging out ends the session", async () => {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByText("You have logged out.").waitFor();
  await page.goto("/settings");
  assert.equal(new URL(page.url()).pathname, "/login");
});

test("no page raised a script error or broke the Content-Security-Policy", () => {
  assert.deepEqual(consoleErrors, []);
});
