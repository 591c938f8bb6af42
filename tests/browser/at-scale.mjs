// Browser scenarios of tests/browser-at-scale.bats: many tabs over HTTP/2,
// the 4th tab over HTTP/1.1, a page on another origin (CORS), a private
// topic with its token in a cookie. Run by driver.mjs like scenarios.mjs.
// Environment (from the test): BASE_URL (http), HTTPS_URL (https, HTTP/2,
// a certificate of the test's own), CROSS_PORT (a free port for the other
// origin's page), JWT_KEY (the worker's HS256 key).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { BASE_URL, describe, pageErrors, publish, waitFor } from "./lib.mjs";

const HTTPS_URL = process.env.HTTPS_URL;
const CROSS_PORT = Number(process.env.CROSS_PORT);
const nonce = () => `${process.pid}-${Date.now()}`;

// An HS256 JWT made here with node's own HMAC, not by the code under test.
export function makeJwt(claims, key = process.env.JWT_KEY) {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`;
}

const inTenMinutes = () => Math.floor(Date.now() / 1000) + 600;

// Opens the demo page in a tab of the given context (tabs of one context
// share the browser's connections, like tabs of one window).
async function openTab(context, url) {
  const page = await context.newPage();
  page.on("pageerror", (err) => pageErrors.push(`${url}: ${err.message}`));
  await page.goto(url);
  return page;
}

function isOpen(page, timeout = 20000) {
  return waitFor(page, "the EventSource is OPEN", () =>
    document.getElementById("state").dataset.state === "OPEN", null, timeout);
}

function hasEvent(page, id, data, timeout = 15000) {
  return waitFor(page, `event ${id} "${data}" is in the log`, ([id, data]) =>
    [...document.querySelectorAll("#log li.event")].some((li) =>
      li.dataset.id === id && li.querySelector(".data").textContent === data), [id, data], timeout);
}

// Serves cross-origin.html on CROSS_PORT, on every address of 127.0.0.1:
// http://127.0.0.1:PORT and http://localhost:PORT are two origins.
async function crossOriginServer() {
  const html = await readFile(new URL("./cross-origin.html", import.meta.url));
  const server = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    res.end(html);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(CROSS_PORT, "127.0.0.1", resolve);
  });
  return server;
}

async function crossPage(context, origin, topics) {
  const query = new URLSearchParams([["server", BASE_URL], ...topics.map((t) => ["topic", t])]);
  const page = await context.newPage();
  await page.goto(`${origin}/?${query}`);
  return page;
}

const crossState = (page) => page.evaluate(() => ({
  state: document.getElementById("state").textContent,
  errors: Number(document.getElementById("errors").textContent),
  events: [...document.querySelectorAll("#events li")].map((li) => ({ id: li.dataset.id, data: li.textContent })),
}));

export const scenarios = {
  // 20 tabs over HTTP/2: 40 streams on one connection, all OPEN, all get
  // the one event published afterwards.
  async "tabs-h2"(browser) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const tabs = await Promise.all(Array.from({ length: 20 }, () => openTab(context, `${HTTPS_URL}/`)));
    await Promise.all(tabs.map((tab) => isOpen(tab, 30000)));
    const protocol = await tabs[19].evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
    const data = `to all 20 tabs ${nonce()}`;
    const id = await publish("chat", data, "-t", "chat");
    await Promise.all(tabs.map((tab) => hasEvent(tab, id, data, 20000)));
    for (const [i, tab] of tabs.entries()) {
      const phase = await tab.evaluate(() => document.getElementById("phase").dataset.phase);
      assert.equal(phase, "open", `tab ${i + 1} is open, not stuck: ${await describe(tab)}`);
    }
    // "" when the page itself came from the cache; otherwise it must be h2.
    assert.ok(protocol === "h2" || protocol === "", `the pages came over HTTP/2 (${protocol})`);
  },

  // Over HTTP/1.1, 3 tabs hold the browser's 6 connections to the server:
  // the 4th says why it waits and links to HTTPS; it opens once a tab closes.
  async "fourth-tab-h1"(browser) {
    const context = await browser.newContext();
    const tabs = [];
    for (let i = 0; i < 3; i++) {
      const tab = await openTab(context, `${BASE_URL}/`);
      await isOpen(tab);
      await waitFor(tab, "the wire view reads its stream", () =>
        [...document.querySelectorAll("#wire li.marker")].some((li) => li.textContent.includes(" → 200 ")));
      tabs.push(tab);
    }
    const fourth = await openTab(context, `${BASE_URL}/`);
    await waitFor(fourth, "the 4th tab says it is stuck", () =>
      document.getElementById("phase").dataset.phase === "stuck" &&
      !document.getElementById("stuck-note").hidden, null, 15000);
    const note = await fourth.evaluate(() => {
      const el = document.getElementById("stuck-note");
      return { text: el.textContent, href: el.querySelector("a").href,
        state: document.getElementById("state").textContent };
    });
    assert.equal(note.state, "CONNECTING");
    assert.match(note.text, /at most 6 connections/);
    // This page over HTTPS: the test stack's TLS port, which nginx wrote
    // into the page's <meta name="sse-https-port"> (render-nginx-conf).
    assert.equal(note.href, `${HTTPS_URL}/`, "the link is this page over HTTPS");
    // A tab closes: its connections go to the waiting tab, the note goes.
    await tabs[0].close();
    await isOpen(fourth);
    await waitFor(fourth, "the note is gone and the phase is open", () =>
      document.getElementById("stuck-note").hidden &&
      document.getElementById("phase").dataset.phase === "open");
  },

  // A page on http://127.0.0.1:CROSS_PORT (listed in --cors-origins)
  // subscribes with its cookie to a private topic and a public one, and
  // publishes with a JWT (a preflight first); the same page on
  // http://localhost:CROSS_PORT (not listed) is blocked by the browser.
  async "cross-origin"(browser) {
    const server = await crossOriginServer();
    try {
      const context = await browser.newContext();
      await context.addCookies([{
        name: "mercureAuthorization", url: BASE_URL,
        value: makeJwt({ mercure: { subscribe: ["orders"] }, exp: inTenMinutes() }),
      }]);
      const allowed = await crossPage(context, `http://127.0.0.1:${CROSS_PORT}`, ["orders", "chat"]);
      await waitFor(allowed, "the allowed origin's EventSource is OPEN", () =>
        document.getElementById("state").textContent === "OPEN");
      const publisher = makeJwt({ mercure: { publish: ["chat"] }, exp: inTenMinutes() });
      const result = await allowed.evaluate(([t, d]) => window.publishEvent("chat", d, t),
        [publisher, `from another origin ${nonce()}`]);
      assert.equal(result.status, 200, `publish from the allowed origin: ${JSON.stringify(result)}`);
      const ordersData = `private order ${nonce()}`;
      const ordersId = await publish("orders", ordersData);
      await waitFor(allowed, "both events reached the allowed origin's page", ([chatId, ordersId]) => {
        const ids = [...document.querySelectorAll("#events li")].map((li) => li.dataset.id);
        return ids.includes(chatId) && ids.includes(ordersId);
      }, [result.text, ordersId]);

      const blocked = await crossPage(context, `http://localhost:${CROSS_PORT}`, ["chat"]);
      await waitFor(blocked, "the EventSource of an origin not listed fails for good", () =>
        document.getElementById("state").textContent === "CLOSED");
      const refused = await blocked.evaluate((t) => window.publishEvent("chat", "must not arrive", t), publisher);
      assert.match(refused.error || "", /TypeError/, `the browser blocks the publish: ${JSON.stringify(refused)}`);
      const seen = await crossState(allowed);
      assert.ok(!seen.events.some((e) => e.data === "must not arrive"), "the blocked publish was never sent");
      assert.equal((await crossState(blocked)).events.length, 0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  },

  // The demo page on a private topic: refused (401) without the cookie,
  // streaming once the cookie holds a token that grants the topic.
  async "private-cookie"(browser) {
    const context = await browser.newContext();
    const without = await openTab(context, `${BASE_URL}/?topic=orders`);
    await waitFor(without, "without a token the browser gives up (401) and the page backs off", () =>
      document.getElementById("phase").dataset.phase === "backoff");
    await without.close();
    await context.addCookies([{
      name: "mercureAuthorization", url: BASE_URL,
      value: makeJwt({ mercure: { subscribe: ["orders"] }, exp: inTenMinutes() }),
    }]);
    const page = await openTab(context, `${BASE_URL}/?topic=orders`);
    await isOpen(page);
    const data = `for the cookie holder ${nonce()}`;
    const id = await publish("orders", data);
    await hasEvent(page, id, data);
  },
};

// 20 tabs start 20 renderers: on a busy 2-core machine that takes a while.
scenarios["tabs-h2"].timeoutMs = 120000;
