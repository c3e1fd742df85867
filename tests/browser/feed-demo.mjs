// The in-app feed demo page (/panel/feed-demo) as a person uses it, in
// Debian's chromium driven by Playwright: open a recipient's feed with its
// token, see an item sent meanwhile appear without reloading, and mark it
// read. Run by tests/e2e/panel.rs, which made the recipient, its token and
// a first item; the environment says where everything is:
// INC_URL, INC_API_KEY, INC_TOKEN, CHROMIUM (optional)
import { check, eventually, launch, watchedPage } from "./common.mjs";

const base = process.env.INC_URL;
const key = process.env.INC_API_KEY;
const token = process.env.INC_TOKEN;

const browser = await launch();
const summary = {};
try {
  const { page, clean } = await watchedPage(browser, base);
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));
  await page.goto(base + "/panel/feed-demo");
  await page.getByLabel("Recipient token").fill(token);
  await page.getByRole("button", { name: "Open the feed" }).click();
  await page.getByText("Connected: new items arrive live.").waitFor();
  await page.locator("#items li", { hasText: "Welcome aboard" }).waitFor();
  check((await page.locator("#unread").textContent()) === "1 unread", "the first unread count");

  // Sent by the merchant's server while the page is open: it appears live.
  const sent = await fetch(base + "/v1/messages", {
    method: "POST",
    headers: { Authorization: "Api-Key " + key, "Content-Type": "application/json" },
    body: JSON.stringify({ id: "live-1", channel: "in_app", to_recipient: "ada", title: "Order shipped",
      text: "Your order A-17 is on its way" }),
  });
  check(sent.status === 202, "the message is accepted: " + sent.status);
  const item = page.locator("#items li", { hasText: "Your order A-17 is on its way" });
  await item.waitFor();
  check((await page.locator("#items li").first().textContent()).includes("Order shipped"), "newest first");
  await eventually("two unread", async () => (await page.locator("#unread").textContent()) === "2 unread");

  // Read on the page: the read comes back on the socket and the badge falls.
  await item.getByRole("button", { name: "Mark read" }).click();
  await eventually("one unread", async () => (await page.locator("#unread").textContent()) === "1 unread");
  await eventually("the item read", async () => (await item.getAttribute("class")) === "read");

  summary.items = await page.locator("#items li").count();
  summary.sockets = sockets.length;
  clean();
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
