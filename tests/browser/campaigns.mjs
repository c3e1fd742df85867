// The panel's Campaigns section as a merchant uses it, in Debian's chromium
// driven by Playwright: open a survey that is sending and watch its
// progress chart grow without reloading, read its replies, then pause and
// cancel a slow one. Run by tests/e2e/panel.rs, which made the campaigns
// and checks the API's side; the environment says where everything is:
// INC_URL, INC_API_KEY, INC_SCREENSHOT, CHROMIUM (optional)
import { check, eventually, launch, signIn, watchedPage } from "./common.mjs";

const base = process.env.INC_URL;
const key = process.env.INC_API_KEY;

const browser = await launch();
const summary = {};
try {
  const { page, clean } = await watchedPage(browser, base);
  await page.goto(base + "/panel");
  await signIn(page, key);

  // The survey: its row, then its progress drawn as the counts move.
  const row = page.locator('#campaigns-table tr[data-id="survey"]');
  await row.waitFor();
  await page.getByRole("button", { name: "Open campaign survey" }).click();
  await page.locator("#campaign-title").getByText("Survey (survey)").waitFor();
  const sent = page.locator('#campaign-legend li[data-series="sent"] strong');
  const first = Number(await sent.textContent());
  await eventually("all 30 sent, drawn without a reload", async () => Number(await sent.textContent()) === 30);
  const points = await page.locator('#campaign-chart-svg polyline[data-series="sent"]').getAttribute("points");
  summary.samples = points.trim().split(" ").length;
  check(summary.samples >= 2, "a line of several samples: " + points);
  summary.first_sent = first;
  await page.locator("#campaign-replies").getByText("5 stars").waitFor();
  await page.locator("#campaign-status").getByText("sent").waitFor();

  // The slow one: paused, then canceled, from the page.
  await page.getByRole("button", { name: "Refresh" }).first().click();
  await page.getByRole("button", { name: "Open campaign slow" }).click();
  await page.locator("#campaign-title").getByText("Slow (slow)").waitFor();
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByText("Campaign slow is paused.").waitFor();
  await page.getByRole("button", { name: "Cancel campaign" }).click();
  await page.getByText("Campaign slow is canceled.").waitFor();
  await page.locator('#campaigns-table tr[data-id="slow"] td.cs-canceled').waitFor();
  await page.locator("#campaign").scrollIntoViewIfNeeded();
  if (process.env.INC_SCREENSHOT) await page.screenshot({ path: process.env.INC_SCREENSHOT, fullPage: false });
  clean();
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
