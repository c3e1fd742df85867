// What every browser test of the panel shares: Debian's chromium started
// as this closed machine needs it, polling with a deadline, a watch on
// requests that leave the origin and errors in the page, and signing in.
import { chromium } from "playwright-core";

const DEADLINE_MS = 30_000;

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

// Polls `probe` until it answers something truthy, or fails after the deadline.
export async function eventually(what, probe) {
  const end = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Playwright starts it with a new, empty profile; no background traffic
// either: this machine's network is closed, and the panel needs none.
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

// A page that records requests leaving `base` and the page's own errors (a
// refused request is logged by chromium itself and does not count).
export async function watchedPage(browser, base) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const elsewhere = [];
  const problems = [];
  page.on("request", (r) => { if (!r.url().startsWith(base)) elsewhere.push(r.url()); });
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  const clean = () => {
    check(elsewhere.length === 0, "requests left the origin: " + elsewhere);
    check(problems.length === 0, "errors in the page: " + problems);
  };
  return { page, clean };
}

export async function signIn(page, key) {
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Signed in.").waitFor();
}
