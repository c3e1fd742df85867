// The panel's transformation editor as a merchant uses it, in Debian's
// chromium driven by Playwright: add an SQS endpoint, open its editor, type
// a jq program and see its output on the sample event change as one types,
// see a broken program's error, save. Run by tests/e2e/panel.rs, which
// checks the saved program and the reshaped message on the queue; the
// environment says where everything is: INC_URL, INC_API_KEY, INC_QUEUE_URL,
// CHROMIUM (optional)
import { check, eventually, launch, signIn, watchedPage } from "./common.mjs";

const base = process.env.INC_URL;
const key = process.env.INC_API_KEY;
const queue = process.env.INC_QUEUE_URL;

const browser = await launch();
const summary = {};
try {
  const { page, clean } = await watchedPage(browser, base);
  await page.goto(base + "/panel");
  const unlabelled = await page.$$eval("input, select, textarea", (els) =>
    els.filter((e) => e.labels.length === 0 && !e.getAttribute("aria-label")).map((e) => e.id || e.name));
  check(unlabelled.length === 0, "controls without a label: " + unlabelled);
  await signIn(page, key);

  // An SQS endpoint: the type asks for its queue instead of a URL.
  await page.locator("#endpoint-form").getByLabel("Delivers to").selectOption("sqs");
  check(await page.getByLabel("URL of a new endpoint").isHidden(), "the URL field hides");
  await page.getByLabel("Queue URL, topic ARN or bus").fill(queue);
  await page.locator("#endpoint-form").getByLabel("Event types").fill("order.*");
  await page.getByRole("button", { name: "Add endpoint" }).click();
  const added = await page.getByText(/^Endpoint ep_\w+ added\.$/).textContent();
  const id = added.split(" ")[1];
  const row = page.locator(`#endpoints-table tr[data-id="${id}"]`);
  await row.getByText("sqs: " + queue).waitFor();

  // The editor: the output follows the program as it is typed.
  await row.getByRole("button", { name: "Transformation of " + id }).click();
  const output = page.locator("#transformation-output");
  await page.getByLabel("Program", { exact: true }).fill("{order: .data.order_no}");
  const shown = async () => {
    try {
      return JSON.stringify(JSON.parse((await output.textContent()) || "null"));
    } catch {
      return null;
    }
  };
  await eventually("the first output", async () => (await shown()) === '{"order":"A-1001"}');
  await page.getByLabel("Program", { exact: true }).fill("{order: .data.order_no, qty: (.data.items | map(.qty) | add)}");
  await eventually("the second output", async () =>
    ((await output.textContent()) || "").includes('"qty": 3'));
  // A broken program shows its error, and nothing is saved by trying.
  await page.getByLabel("Program", { exact: true }).fill("{order: .data.order_no");
  await eventually("the compile error", async () =>
    ((await output.textContent()) || "").startsWith("transformation: does not compile"));
  check((await output.getAttribute("class")) === "error", "the error is marked");
  // Fixed, and saved.
  await page.getByLabel("Program", { exact: true }).fill('{order: .data.order_no, by: "panel"}');
  await eventually("the fixed output", async () => ((await output.textContent()) || "").includes('"panel"'));
  await page.getByRole("button", { name: "Save transformation" }).click();
  await page.getByText("Transformation of " + id + " saved.").waitFor();

  summary.endpoint = id;
  clean();
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
