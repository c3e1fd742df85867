// The panel's Recipients and Lists sections as a merchant uses them, in
// Debian's chromium driven by Playwright: find a recipient and see its
// addresses, preferences and messages; add a list, upload a CSV file into
// it (a bad row named by its line), see its count and its members. Run by
// tests/e2e/panel.rs, which checks the API's side; the environment says
// where everything is: INC_URL, INC_API_KEY, CHROMIUM (optional)
import { check, launch, signIn, watchedPage } from "./common.mjs";

const base = process.env.INC_URL;
const key = process.env.INC_API_KEY;

const browser = await launch();
const summary = {};
try {
  const { page, clean } = await watchedPage(browser, base);
  await page.goto(base + "/panel");
  const unlabelled = await page.$$eval("input, select", (els) =>
    els.filter((e) => e.labels.length === 0 && !e.getAttribute("aria-label")).map((e) => e.id || e.name));
  check(unlabelled.length === 0, "controls without a label: " + unlabelled);
  await signIn(page, key);

  // A recipient the test made through the API: its fields, the category it
  // switched off, and the message refused for it.
  await page.getByLabel("Recipient id").fill("nobody");
  await page.getByRole("button", { name: "Find" }).click();
  await page.getByText("There is no recipient nobody.").waitFor();
  await page.getByLabel("Recipient id").fill("ada");
  await page.getByRole("button", { name: "Find" }).click();
  await page.locator("#recipient-title").getByText("Recipient ada").waitFor();
  const field = async (name) =>
    page.locator("#recipient-fields dt", { hasText: new RegExp("^" + name + "$") })
      .locator("xpath=following-sibling::dd[1]").textContent();
  check((await field("phone")) === "+96599990001", "the phone: " + (await field("phone")));
  check((await field("timezone")) === "Asia/Kuwait", "the time zone");
  const preference = await page.locator("#recipient-preferences tbody tr").first().textContent();
  check(preference === "marketingsmsoff", "the preference: " + preference);
  const message = page.locator("#recipient-messages tbody tr", { hasText: "preference" });
  await message.waitFor();
  summary.recipient_messages = await page.locator("#recipient-messages tbody tr").count();
  // Its device, masked, and its in-app feed with the unread count.
  const device = await page.locator("#recipient-devices tbody tr").first().textContent();
  check(device.startsWith("fcmfcm-ad…0001shop"), "the device, masked: " + device);
  await page.locator("#recipient-feed tbody tr", { hasText: "Your order is ready" }).waitFor();
  const caption = await page.locator("#recipient-feed-caption").textContent();
  check(caption.endsWith("1 unread"), "the unread count: " + caption);

  // A list, and a CSV file uploaded into it: a row whose phone is not
  // E.164 is refused by its line, the others added.
  await page.getByLabel("New list id").fill("spring");
  await page.locator("#list-form").getByLabel("Name").fill("Spring offers");
  await page.getByRole("button", { name: "Save list" }).click();
  await page.getByText("List spring saved.").waitFor();
  const csv = "id,phone,email,data.tier\n" +
    "p1,+96599990011,p1@example.com,gold\n" +
    "p2,12345,,\n" +
    '"p3",+96599990013,"P3@Example.com","silver, new"\n' +
    "p4,+96599990014,,\n";
  await page.getByLabel("Upload into").selectOption("spring");
  await page.getByLabel("CSV file").setInputFiles({ name: "spring.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.getByRole("button", { name: "Upload" }).click();
  await page.getByText("spring.csv: 3 added, 0 updated, 1 refused.").waitFor();
  const refused = await page.locator("#upload-refused li").allTextContents();
  check(refused.length === 1 && refused[0].startsWith("line 3: phone"), "the refused row: " + refused);
  const row = page.locator('#lists-table tr[data-id="spring"]');
  await row.getByText("3", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Members of spring" }).click();
  await page.locator("#members-list li").nth(2).waitFor();
  const members = await page.locator("#members-list li").count();
  check(members === 3, "the members shown: " + members);
  summary.refused = refused[0];
  clean();
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
