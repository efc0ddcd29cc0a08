// Drives Debian's headless Chromium with playwright-core (never a browser Playwright downloads) through the
// cookie-session page, and prints one JSON object on stdout for tests/browser/test_cookie_session.py.
//   node drive.mjs <page URL> <API origin>
// Chromium's path comes from CHROMIUM (default /usr/bin/chromium).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

// With --result-only (tests/browser/test_event_source.py), it prints the page's result and the EventSource
// requests the browser made, and skips the cookie checks after it.
const [pageUrl, apiOrigin, mode] = process.argv.slice(2);
if (!pageUrl || !apiOrigin) {
  console.error("usage: node drive.mjs <page URL> <API origin> [--result-only]");
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
  const eventSourceRequests = [];  // what the browser itself sent: Last-Event-ID is set by it, not by script
  page.on("request", async (request) => {
    if (request.resourceType() === "eventsource") {
      const headers = await request.allHeaders();
      eventSourceRequests.push({ url: request.url(), lastEventId: headers["last-event-id"] ?? null });
    }
  });
  await page.goto(pageUrl, { timeout: 30_000 });
  await page.waitForFunction(() => window.orbixResult !== undefined, null, { timeout: 60_000 });
  const result = await page.evaluate(() => window.orbixResult);
  if (mode === "--result-only") {
    result.eventSourceRequests = eventSourceRequests;
  } else {
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
  }
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
