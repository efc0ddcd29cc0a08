// Drives Debian's headless Chromium with playwright-core (never a browser Playwright downloads) through the
// cookie-session page, and prints one JSON object on stdout for tests/browser/test_cookie_session.py.
//   node drive.mjs <page URL> <API origin>
// Chromium's path comes from CHROMIUM (default /usr/bin/chromium).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [pageUrl, apiOrigin] = process.argv.slice(2);
if (!pageUrl || !apiOrigin) {
  console.error("usage: node drive.mjs <page URL> <API origin>");
  process.exit(2);
}

// This machine's network is closed: without these, Chromium keeps trying Google's hosts.
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const profile = mkdtempSync(join(tmpdir(), "orbix-chromium-"));  // a fresh --user-data-dir every run
const console_ = [];
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ARGS,
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (message) => console_.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => console_.push(`pageerror: ${error.message}`));
  await page.goto(pageUrl, { timeout: 30_000 });
  await page.waitForFunction(() => window.orbixResult !== undefined, null, { timeout: 60_000 });
  const result = await page.evaluate(() => window.orbixResult);
  // What the browser holds for the API, HttpOnly cookies included (script cannot see those).
  result.browserCookies = (await context.cookies(apiOrigin + "/api/")).map((cookie) => ({
    name: cookie.name,
    httpOnly: cookie.httpOnly,
    sameSite: cookie.sameSite,
    secure: cookie.secure,
    path: cookie.path,
    domain: cookie.domain,
  }));
  result.afterLogout = await page.evaluate(() => window.orbixLogout());
  result.browserCookiesAfterLogout = (await context.cookies(apiOrigin + "/api/")).map((cookie) => cookie.name);
  result.userAgent = await page.evaluate(() => navigator.userAgent);
  result.console = console_;
  process.stdout.write(JSON.stringify(result) + "\n");
} catch (error) {
  process.stdout.write(JSON.stringify({ driverError: String(error?.stack ?? error), console: console_ }) + "\n");
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
