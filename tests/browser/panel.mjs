// The control panel as a merchant uses it, in Debian's chromium driven by
// Playwright: sign in with an API key, point the endpoint at a sink and
// choose signed JSON, send an event, watch it arrive in the history, resend
// it and see its second attempt. Run by tests/e2e/panel.rs, which checks
// the sink's side; the environment says where everything is:
//   INC_URL, INC_API_KEY, INC_SINK_URL, INC_SCREENSHOT, CHROMIUM (optional)
import { check, eventually, launch, signIn, watchedPage } from "./common.mjs";

const base = process.env.INC_URL;
const key = process.env.INC_API_KEY;
const sink = process.env.INC_SINK_URL;
const screenshot = process.env.INC_SCREENSHOT;

// Clicks Search and waits for the history page it asks for to be shown.
async function search(page) {
  const answered = page.waitForResponse((r) => r.url().includes("/v1/notifications?"));
  await page.getByRole("button", { name: "Search" }).click();
  await answered;
  await page.waitForFunction(() => !document.body.classList.contains("loading"));
}

const browser = await launch();
const summary = {};
try {
  const { page, clean } = await watchedPage(browser, base);

  await page.goto(base + "/panel");
  check((await page.title()).includes("INC"), "the panel's title");

  // Every form control has a label a screen reader announces.
  const unlabelled = await page.$$eval("input, select", (els) =>
    els.filter((e) => e.labels.length === 0).map((e) => e.id || e.name));
  check(unlabelled.length === 0, "controls without a label: " + unlabelled);

  // A wrong key is refused and says so.
  await page.getByLabel("API key").fill("inc_not_a_key");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("That API key was not accepted.").waitFor();

  await signIn(page, key);

  // Change settings: the endpoint and signed JSON.
  await page.getByLabel("Endpoint URL").fill(sink);
  await page.getByLabel("Webhook format for SMS events").selectOption("json");
  await page.getByLabel("Sent (SMS sent)").check();
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByText("Settings saved.").waitFor();

  // A bad endpoint is refused with the API's reason, and nothing changes.
  await page.getByLabel("Endpoint URL").fill("ftp://nowhere.example/ipn");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.locator("#status.error").getByText("Settings not saved").waitFor();
  await page.getByLabel("Endpoint URL").fill(sink);

  // Endpoints: the default one is the URL just saved; add one for orders,
  // change its event types, disable and enable it, read and rotate its
  // secret; add another and delete it.
  const endpoints = page.locator("#endpoints-table tbody");
  await endpoints.locator('tr[data-id="ep_default"]').waitFor();
  await page.getByLabel("URL of a new endpoint").fill(sink);
  await page.getByLabel("Description").fill("Order management");
  await page.locator("#endpoint-form").getByLabel("Event types").fill("order.*");
  await page.getByRole("button", { name: "Add endpoint" }).click();
  const added = await page.getByText(/^Endpoint ep_\w+ added\.$/).textContent();
  const endpointId = added.split(" ")[1];
  const firstSecret = await page.locator("#endpoint-secret-value").textContent();
  check(firstSecret.startsWith("whsec_"), "the new endpoint's secret is shown: " + firstSecret);
  const epRow = endpoints.locator(`tr[data-id="${endpointId}"]`);
  await epRow.getByLabel("Event types of " + endpointId, { exact: true }).fill("order.*, stock.low");
  await page.getByRole("button", { name: "Save event types of " + endpointId }).click();
  await page.getByText("Event types of " + endpointId + " saved.").waitFor();
  await page.getByRole("button", { name: "Disable " + endpointId }).click();
  await epRow.locator("td.ep-disabled").waitFor();
  await page.getByRole("button", { name: "Enable " + endpointId }).click();
  await epRow.locator("td.ep-enabled").waitFor();
  await page.getByRole("button", { name: "Secret of " + endpointId, exact: true }).click();
  check(await page.locator("#endpoint-secret-value").textContent() === firstSecret, "the secret shown again");
  await page.getByRole("button", { name: "Rotate secret of " + endpointId }).click();
  await page.getByText("Secret of " + endpointId + " rotated", { exact: false }).waitFor();
  const rotated = await page.locator("#endpoint-secret-value").textContent();
  check(rotated.startsWith("whsec_") && rotated !== firstSecret, "a new secret after rotation");
  summary.endpoint_id = endpointId;
  summary.endpoint_secret = rotated;
  await page.getByLabel("URL of a new endpoint").fill(sink);
  await page.locator("#endpoint-form").getByLabel("Event types").fill("iot.*");
  await page.getByRole("button", { name: "Add endpoint" }).click();
  const other = (await page.getByText(/^Endpoint ep_\w+ added\.$/).textContent()).split(" ")[1];
  await page.getByRole("button", { name: "Delete " + other }).click();
  await page.getByText(other + " deleted.").waitFor();
  await endpoints.locator(`tr[data-id="${other}"]`).waitFor({ state: "detached" });
  // A bad filter is refused with the API's reason.
  await page.getByLabel("URL of a new endpoint").fill(sink);
  await page.locator("#endpoint-form").getByLabel("Event types").fill("order");
  await page.getByRole("button", { name: "Add endpoint" }).click();
  await page.locator("#status.error").getByText("filter_types[0]").waitFor();
  summary.endpoints = await endpoints.locator("tr").count();
  // The catalog lists the built-in types.
  await page.locator("#event-types-table").getByText("payment.state_changed").waitFor();

  // Opt-outs: a bad number is refused with the API's reason; two added,
  // one removed; the one left is listed, and checked from the Rust side.
  const optOuts = page.locator("#suppressions-table tbody");
  const optOutForm = page.locator("#suppression-form");
  await optOutForm.getByLabel("Recipient").fill("99999999");
  await page.getByRole("button", { name: "Add opt-out" }).click();
  await page.locator("#status.error").getByText("to: must be an E.164 number").waitFor();
  await optOutForm.getByLabel("Recipient").fill("+96511112222");
  await optOutForm.getByLabel("Reason").fill("replied STOP");
  await page.getByRole("button", { name: "Add opt-out" }).click();
  await optOuts.locator('tr[data-recipient="sms:+96511112222"]').waitFor();
  await optOutForm.getByLabel("Channel").selectOption("email");
  await optOutForm.getByLabel("Recipient").fill("Gone@Example.com");
  await page.getByRole("button", { name: "Add opt-out" }).click();
  await optOuts.locator('tr[data-recipient="email:gone@example.com"]').waitFor();
  await page.getByRole("button", { name: "Remove sms +96511112222" }).click();
  await optOuts.locator('tr[data-recipient="sms:+96511112222"]').waitFor({ state: "detached" });
  summary.opt_outs = await optOuts.locator("tr").count();

  // Templates: save an Italian reminder, preview it as the sample data is
  // typed; a variable the data lacks is named, not left blank.
  await page.getByLabel("Template name").fill("service_reminder");
  await page.getByLabel("Language").fill("it");
  await page.getByLabel("Text", { exact: true }).fill("Ciao {{ name }}, la tua auto è attesa il {{ date }}.");
  await page.getByRole("button", { name: "Save template" }).click();
  await page.getByText("Template service_reminder saved.").waitFor();
  await page.locator('#templates-table tr[data-template="sms:service_reminder"]').waitFor();
  await page.getByLabel("Sample data (JSON)").fill('{"name": "Marco", "date": "3 dicembre"}');
  await page.locator("#template-preview").getByText("[it] Ciao Marco, la tua auto è attesa il 3 dicembre.").waitFor();
  await page.getByLabel("Sample data (JSON)").fill('{"name": "Marco"}');
  await page.locator("#template-preview").getByText("data.date", { exact: false }).waitFor();
  summary.template_preview = "ok";

  // Scheduled messages: two sent through the API for later, listed after a
  // refresh; one canceled from the panel, gone from the list.
  for (const [id, hours] of [["panel-later-1", 1], ["panel-later-2", 2]]) {
    const scheduled = await fetch(base + "/v1/messages", {
      method: "POST",
      headers: { Authorization: "Api-Key " + key, "Content-Type": "application/json" },
      body: JSON.stringify({ id, channel: "sms", to: "+393331234567", text: "See you soon",
        send_at: new Date(Date.now() + hours * 3600_000).toISOString(), reference: "panel" }),
    });
    check(scheduled.status === 202, "the message was not accepted: " + scheduled.status);
  }
  const scheduledRows = page.locator("#scheduled-table tbody");
  await page.locator("#scheduled").getByRole("button", { name: "Refresh" }).click();
  await scheduledRows.locator('tr[data-message="panel-later-2"]').waitFor();
  await page.getByRole("button", { name: "Cancel panel-later-1" }).click();
  await page.getByText("Message panel-later-1 canceled; it will not be sent.").waitFor();
  await scheduledRows.locator('tr[data-message="panel-later-1"]').waitFor({ state: "detached" });
  summary.scheduled = await scheduledRows.locator("tr").count();

  // An integrated system reports an SMS as sent.
  const eventId = "evt-panel-" + Date.now();
  const response = await fetch(base + "/v1/events", {
    method: "POST",
    headers: { Authorization: "Api-Key " + key, "Content-Type": "application/json" },
    body: JSON.stringify({
      id: eventId,
      type: "sms.sent",
      data: { status: "RESULT_OK", status_code: -1, id_smsout: 7, request_code: "panel-1",
              to: "320555555", from: "00391231234", msg: "Hello from the panel test", source: "smsout_api" },
    }),
  });
  check(response.status === 202, "the event was not accepted: " + response.status);
  const notificationId = (await response.json()).notifications[0];
  summary.notification_id = notificationId;

  // It appears in the history, delivered.
  await page.getByLabel("Status").selectOption("delivered");
  const row = page.locator(`tr[data-id="${notificationId}"]`);
  await eventually("the notification delivered in the history", async () => {
    await search(page);
    return (await row.count()) === 1;
  });
  check((await row.locator("td").nth(3).textContent()) === "delivered", "status delivered");

  // Resend it, then watch its second attempt in the detail view.
  await row.getByRole("button", { name: "Resend " + notificationId }).click();
  await page.getByText("Resend queued for " + notificationId + ".").waitFor();
  await page.getByLabel("Status").selectOption("");
  await search(page);
  await eventually("the second attempt", async () => {
    await page.locator(`tr[data-id="${notificationId}"]`)
      .getByRole("button", { name: "Details of " + notificationId }).click();
    await page.locator("#detail").waitFor();
    return (await page.locator("#attempts-table tbody tr").count()) === 2;
  });
  const codes = await page.$$eval("#attempts-table tbody tr td:nth-child(4)", (c) => c.map((x) => x.textContent));
  check(codes.every((c) => c === "200"), "both attempts answered 200: " + codes);
  summary.attempts = codes.length;

  // Recover: one notification failed in the last hour — the WhatsApp
  // message the Cloud API refused — and it is queued again. Whole
  // minutes: chromium reads "…:14:00" back as "…:14", which fill() calls
  // malformed (it failed CI once a minute in sixty).
  const hourAgo = new Date(Date.now() - 3600_000);
  const local = new Date(hourAgo.getTime() - hourAgo.getTimezoneOffset() * 60_000)
    .toISOString().slice(0, 16);
  await page.locator("#recover-form").getByLabel("Since").fill(local);
  await page.getByRole("button", { name: "Recover" }).click();
  await page.getByText("Recovered 1 failed notification.").waitFor();

  // A payment's WhatsApp message the Cloud API refused: the SMS that stood
  // in for it shows the link, the gateway's receipt and, on the order's
  // timeline, both.
  const fallbackId = process.env.INC_FALLBACK_SMS;
  await page.getByLabel("Status").selectOption("");
  await search(page);
  await page.locator(`tr[data-id="${fallbackId}"]`)
    .getByRole("button", { name: "Details of " + fallbackId }).click();
  await page.locator("#detail").waitFor();
  const field = async (name) =>
    page.locator("#detail-fields dt", { hasText: new RegExp("^" + name + "$") }).locator("xpath=following-sibling::dd[1]").textContent();
  check((await field("Stands in for")) === process.env.INC_FALLBACK_OF, "the SMS names the WhatsApp message");
  check((await field("Receipt")).startsWith("delivered at "), "the SMS's receipt: " + (await field("Receipt")));
  await page.locator("#timeline-form").getByLabel("or order no").fill("order-panel");
  await page.locator("#timeline-form").getByRole("button", { name: "Show" }).click();
  await page.getByText("Timeline loaded.").waitFor();
  check((await page.locator("#timeline-list li", { hasText: "sms receipt: delivered" }).count()) === 1,
    "the timeline shows the receipt");
  const queued = await page.locator("#timeline-list li", { hasText: "sms notification queued" }).textContent();
  check(queued.includes("(instead of " + process.env.INC_FALLBACK_OF + ")"), "the timeline links them: " + queued);
  summary.fallback = await field("Stands in for");

  // The default endpoint's health: a chart of its last 24 hours, one group
  // of bars per hour, the caption counting the two deliveries.
  await page.getByRole("button", { name: "Health of ep_default" }).click();
  await page.locator("#endpoint-chart").waitFor();
  const hours = await page.locator("#endpoint-chart-svg g.hour").count();
  check(hours === 24, "24 hours in the chart: " + hours);
  const caption = await page.locator("#endpoint-chart-caption").textContent();
  check(/^ep_default: 2 delivered, 0 failed attempts and 0 given up in the last 24 hours$/.test(caption),
    "the chart's caption: " + caption);
  summary.chart = caption;

  // Back to the notification for the picture.
  await page.locator("#detail-title").scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot, fullPage: true });
  clean();
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
