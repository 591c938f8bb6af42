// Shared by the browser scenarios: launching Debian's chromium, opening the
// page, reading what it shows, publishing, and the step files through which
// tests/browser.bats and a running scenario take turns.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const BASE_URL = process.env.BASE_URL;
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
// Where the running scenario and the test exchange step files (driver.mjs
// sets it for each scenario from the test's request).
let stepDir;
export function setStepDir(dir) {
  stepDir = dir;
}

// Debian's chromium as root in a closed network: no sandbox (root), no GPU,
// and none of the background requests (updates, sync, QUIC probes) that
// would only be refused here. Playwright gives it a fresh user data dir.
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    // driver.mjs handles the signals itself: playwright's handlers would
    // close the browser but leave node running.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
}

// Uncaught exceptions in any page fail the scenario (driver.mjs checks and
// empties this after each one). Console errors do not: the browser logs
// every failed request, and the restart scenarios cause 502s on purpose.
export const pageErrors = [];

// Opens the page in a context of its own (its own connections: Chromium
// allows six per host, and each page holds two streams).
export async function openPage(browser, path = "/", { clock = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(`${path}: ${err.message}`));
  if (clock) await page.clock.install(); // timers stay real until paused
  await page.goto(BASE_URL + path);
  await waitFor(page, "the EventSource is OPEN and the wire view reads its stream", () =>
    document.getElementById("state").dataset.state === "OPEN" &&
    [...document.querySelectorAll("#wire li.marker")].some((li) => li.textContent.includes(" → 200 ")), null, 15000);
  return page;
}

// Bounded polling for a condition in the page; the description says what
// did not happen when it times out.
export async function waitFor(page, what, fn, arg = null, timeout = 10000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (err) {
    throw new Error(`timed out after ${timeout} ms waiting until ${what}\n${await describe(page)}`, { cause: err });
  }
}

// What the page shows, for failure messages.
export async function describe(page) {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent;
    const rows = [...document.querySelectorAll("#log li")].slice(0, 12).map((li) => "  " + li.textContent.replace(/\s+/g, " "));
    return `state ${text("state")}, phase "${text("phase")}", url ${text("url")}, last id ${text("last-id")}\n` +
      `log, newest first:\n${rows.join("\n")}`;
  }).catch((err) => `(page not readable: ${err.message})`);
}

export function text(page, selector) {
  return page.locator(selector).first().textContent();
}

// Everything the page shows, read in one go so the parts agree with each
// other (ticks keep arriving between two separate reads):
//   log:    the log's events, oldest first: { type, id, data } as
//           EventSource dispatched them;
//   wire:   the wire view's dispatched frames, oldest first, rebuilt from the
//           raw lines it shows (not from what the page concluded): type from
//           "event:", id from "id:", data from the "data:" lines joined with
//           "\n", as the standard says; plus the lines and their line ends;
//   frames: every wire view entry, oldest first: { kind, text };
//   notices, state, phase, url, lastId, reconnects, activity, wireText.
export function snapshot(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const value = (line) => line.slice(line.indexOf(":") + 1).replace(/^ /, "");
    const oldestFirst = (selector) => [...document.querySelectorAll(selector)].reverse();
    const log = oldestFirst("#log li.event").map((li) => ({
      type: li.dataset.type, id: li.dataset.id, data: li.querySelector(".data").textContent,
    }));
    const wire = oldestFirst("#wire li.frame[data-kind=event]").map((li) => {
      const lines = [...li.querySelectorAll(".line .txt")].map((t) => t.textContent);
      const event = lines.find((l) => l.startsWith("event:"));
      const id = lines.find((l) => l.startsWith("id:"));
      return {
        type: event ? value(event) : "message",
        id: id ? value(id) : null,
        data: lines.filter((l) => l.startsWith("data:")).map(value).join("\n"),
        lines,
        eols: [...li.querySelectorAll(".line .eol")].map((e) => e.textContent),
      };
    });
    return {
      log,
      wire,
      frames: oldestFirst("#wire li").map((li) => ({ kind: li.dataset.kind || li.className, text: li.textContent })),
      notices: oldestFirst("#log li.notice").map((li) => li.textContent),
      logRows: $("log").children.length,
      wireText: $("wire").textContent,
      state: $("state").textContent,
      phase: $("phase").dataset.phase,
      url: $("url").textContent,
      lastId: $("last-id").textContent,
      reconnects: $("reconnects").textContent,
      activity: $("activity").textContent,
    };
  });
}

// scripts/publish, as a person would run it; resolves to the new id.
export function publish(topic, data, ...options) {
  return new Promise((resolve, reject) => {
    execFile(`${ROOT}/scripts/publish`, [...options, topic, data], { env: { ...process.env, SSE_URL: BASE_URL } },
      (err, stdout, stderr) => (err ? reject(new Error(`publish failed: ${stderr}${stdout}`)) : resolve(stdout.trim())));
  });
}

// --- Steps: the scenario and the bats test take turns through files. -----

// Tells the test that the scenario reached a step (with optional text).
export async function reached(step, content = "") {
  const file = `${stepDir}/${step}`;
  await writeFile(`${file}.tmp`, content);
  await rename(`${file}.tmp`, file); // appears whole, never half written
}

// Waits (bounded) until the test says it did its part; returns its text.
export async function told(step, timeout = 30000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await readFile(`${stepDir}/${step}`, "utf8");
    } catch (err) {
      if (err.code !== "ENOENT") throw err;
    }
    if (existsSync(`${stepDir}/abort`)) throw new Error(`the test gave up before step "${step}"`);
    if (Date.now() > deadline) throw new Error(`the test never told step "${step}" within ${timeout} ms`);
    await sleep(50);
  }
}
