// The browser scenarios of tests/browser.bats, run by driver.mjs against the
// nginx at BASE_URL. Each gets the browser, opens pages in contexts of its own
// and throws on the first thing that is not as it should be.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { BASE_URL, describe, openPage, publish, reached, snapshot, text, told, waitFor } from "./lib.mjs";

const nonce = () => `${process.pid}-${Date.now()}`;

// Ids are 16-digit numbers, past what a double holds exactly: compare as BigInt.
const big = (id) => BigInt(id || 0);

function assertIncreasing(ids, what) {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(big(ids[i]) > big(ids[i - 1]), `${what} increase: ${ids.join(", ")}`);
  }
}

// Waits until an event with this id and data is in the log.
function waitForEvent(page, id, data, timeout = 10000) {
  return waitFor(page, `event ${id} "${data}" is in the log`, ([id, data]) =>
    [...document.querySelectorAll("#log li.event")].some((li) =>
      li.dataset.id === id && li.querySelector(".data").textContent === data), [id, data], timeout);
}

// Publishes with the page's form; resolves to the id the form reports.
async function publishWithForm(page, data, type = "chat", { enter = false } = {}) {
  await page.getByLabel("Event type").fill(type);
  const message = page.getByLabel("Message", { exact: true });
  await message.fill(data);
  if (enter) await message.press("Enter"); // Enter sends, as in a chat
  else await page.getByRole("button", { name: "Publish" }).click();
  await waitFor(page, "the form reports the new id",
    () => /^Published as id \d+\.$/.test(document.getElementById("publish-result").textContent));
  return (await text(page, "#publish-result")).match(/\d+/)[0];
}

export const scenarios = {
  // The page opens its EventSource, reaches OPEN and logs ticks in order.
  async opens(browser) {
    const page = await openPage(browser);
    await waitFor(page, "three ticks are in the log",
      () => document.querySelectorAll('#log li.event[data-type="tick"]').length >= 3);
    const s = await snapshot(page);
    const ticks = s.log.filter((e) => e.type === "tick");
    assertIncreasing(ticks.map((t) => t.id), "tick ids");
    const seqs = ticks.map((t) => JSON.parse(t.data).seq);
    seqs.slice(1).forEach((seq, i) => assert.equal(seq, seqs[i] + 1, `tick seqs are consecutive: ${seqs}`));
    assert.equal(s.state, "OPEN");
    assert.equal(s.phase, "open");
    assert.equal(s.url, "/events?topic=clock&topic=chat");
    assert.equal(s.lastId, s.log.at(-1).id, "the panel shows the last event's id");
    assert.equal(s.reconnects, "0");
    assert.match(await text(page, "#tick"), /^seq \d+, \d+ streams open$/);
    assert.equal(await text(page, "#retry"), "1000 ms", "the panel shows the retry: delay (--retry 1000) from the wire");
  },

  // Both connections see the same frames; the wire view shows them raw.
  async wire(browser) {
    const page = await openPage(browser);
    const multi = `wire ${nonce()}\nsecond line\nthird line`;
    const id = await publish("chat", multi, "-t", "chat");
    await waitFor(page, `event ${id} and two later ones are in both views`, (id) => {
      const ids = (sel) => [...document.querySelectorAll(sel)].map((li) => BigInt(li.dataset.id || 0));
      const ok = (list) => list.includes(BigInt(id)) && list.filter((x) => x > BigInt(id)).length >= 2;
      return ok(ids("#log li.event")) && ok(ids("#wire li.frame[data-kind=event]"));
    }, id);
    const s = await snapshot(page);

    // The two streams started at slightly different moments: compare the
    // stretch both of them saw, from the first event in common to the last.
    const logIds = s.log.map((e) => e.id);
    const common = s.wire.map((e) => e.id).filter((i) => logIds.includes(i));
    assert.ok(common.length >= 3, `at least 3 events in both views, got ${common}`);
    const stretch = (list) => list
      .slice(list.findIndex((e) => e.id === common[0]), list.findIndex((e) => e.id === common.at(-1)) + 1)
      .map(({ type, id, data }) => ({ type, id, data }));
    assert.deepEqual(stretch(s.wire), stretch(s.log), "the wire view's frames are the log's events");

    // The multi-line event: raw lines, line ends made visible, the blank line.
    const frame = s.wire.find((e) => e.id === id);
    assert.deepEqual(frame.lines, ["event: chat", `id: ${id}`, ...multi.split("\n").map((l) => `data: ${l}`), ""]);
    assert.deepEqual(frame.eols, Array(6).fill("\\n"));
    assert.equal(s.log.find((e) => e.id === id).data, multi, "EventSource joined the data: lines with \\n");
    assert.ok(s.frames.some((f) => f.kind === "retry" && f.text.includes("retry: 1000\\n")), "the first frame, retry: 1000, is shown");

    // Only "chat": the streams go quiet and the worker (--heartbeat 2) sends
    // a comment. The topic picker reopens both streams.
    await page.getByLabel("clock").uncheck();
    await page.getByRole("button", { name: "Subscribe" }).click();
    await waitFor(page, "the EventSource reopened on chat alone", () =>
      document.getElementById("state").dataset.state === "OPEN" &&
      document.getElementById("url").textContent.startsWith("/events?topic=chat&lastEventId="));
    await waitFor(page, "a heartbeat comment is in the wire view", () =>
      [...document.querySelectorAll("#wire li[data-kind=comment] .txt")].some((t) => t.textContent === ": heartbeat"));
    await waitFor(page, "the panel shows the heartbeat as the last activity",
      () => document.getElementById("activity").textContent.includes("(heartbeat)"));
    const after = await snapshot(page);
    assert.ok(!after.log.some((e) => e.data.includes("heartbeat")), "no heartbeat in the log");
    assert.ok(!after.notices.some((n) => n.includes("heartbeat")), "no heartbeat notice in the log");
    assert.ok(after.frames.some((f) => f.kind === "marker" && f.text.includes("GET /events?topic=chat with Last-Event-ID: ")),
      "the wire view reopened on chat, resuming with a Last-Event-ID header");
    // Nothing of the clock topic after the switch: rows above the notice are newer.
    const newer = await page.evaluate(() => {
      const rows = [];
      for (const li of document.querySelectorAll("#log li")) {
        if (li.textContent.includes("Subscribed to: chat.")) return rows;
        rows.push(li.dataset.type || "notice");
      }
      return null;
    });
    assert.ok(newer !== null, "the log notes the new subscription");
    assert.ok(!newer.includes("tick"), `no tick after switching to chat alone: ${newer}`);
  },

  // One publish, every open page: from scripts/publish and from the form.
  async "two-pages"(browser) {
    const pages = [await openPage(browser), await openPage(browser)];
    const fromScript = `hello from scripts/publish ${nonce()}`;
    const id1 = await publish("chat", fromScript);
    for (const page of pages) await waitForEvent(page, id1, fromScript);

    const fromForm = `hello from the form ${nonce()}`;
    const id2 = await publishWithForm(pages[0], fromForm);
    for (const page of pages) await waitForEvent(page, id2, fromForm);

    for (const page of pages) {
      const s = await snapshot(page);
      assert.deepEqual(s.log.filter((e) => e.data === fromScript).map((e) => [e.type, e.id]), [["message", id1]]);
      assert.deepEqual(s.log.filter((e) => e.data === fromForm).map((e) => [e.type, e.id]), [["chat", id2]]);
    }
    assert.equal(await pages[0].getByLabel("Message", { exact: true }).inputValue(), "", "the form is ready for the next message");
  },

  // Markup in event data or type is shown as text and never runs.
  async escaping(browser) {
    const page = await openPage(browser);
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    const evil = `<script>window.pwned = 1</script><img src="/pwned.png" onerror="window.pwned = 2"><b>bold?</b> &amp; ${nonce()}`;
    const id1 = await publish("chat", evil);
    const evilType = "<i>type</i>";
    const evil2 = `<iframe src="/pwned.html"></iframe><a href="javascript:alert(1)">x</a> ${nonce()}`;
    const id2 = await publishWithForm(page, evil2, evilType, { enter: true });
    await waitForEvent(page, id1, evil);
    await waitForEvent(page, id2, evil2);
    await waitFor(page, "both are in the wire view", ([a, b]) => {
      const ids = [...document.querySelectorAll("#wire li.frame")].map((li) => li.dataset.id);
      return ids.includes(a) && ids.includes(b);
    }, [id1, id2]);

    const s = await snapshot(page);
    assert.equal(s.log.find((e) => e.id === id2).type, evilType);
    assert.equal(await page.locator(`#log li[data-id="${id2}"] .type`).textContent(), evilType);
    assert.equal(s.wire.find((e) => e.id === id1).data, evil);
    assert.equal(s.wire.find((e) => e.id === id2).type, evilType);
    const injected = await page.evaluate(() => ({
      elements: document.querySelectorAll(".log :is(script, img, b, i, iframe, a), .wire :is(script, img, b, i, iframe, a)").length,
      pwned: window.pwned,
    }));
    assert.deepEqual(injected, { elements: 0, pwned: undefined });
    assert.ok(!requests.some((u) => u.includes("pwned")), `nothing was loaded from event data: ${requests}`);
  },

  // The form shows the server's one-line reason when it refuses.
  async refused(browser) {
    const page = await openPage(browser);
    await page.getByLabel("Event type").fill("gap");
    await page.getByLabel("Message", { exact: true }).fill("pretend to be the hub");
    await page.getByRole("button", { name: "Publish" }).click();
    await waitFor(page, "the form shows the refusal",
      () => document.getElementById("publish-result").dataset.kind === "error");
    assert.equal(await text(page, "#publish-result"),
      "Refused: 400 Bad Request: event type 'gap' is reserved for the hub's missed-events signal");
    assert.equal(await page.getByLabel("Message", { exact: true }).inputValue(), "pretend to be the hub",
      "a refused message stays in the form");

    // 600 × "é" is 3,600 bytes once form-encoded: over the 1 KiB anonymous limit.
    await page.getByLabel("Event type").fill("chat");
    await page.getByLabel("Message", { exact: true }).fill("é".repeat(600));
    await page.getByRole("button", { name: "Publish" }).click();
    await waitFor(page, "the form shows the 413",
      () => document.getElementById("publish-result").textContent.startsWith("Refused: 413 "));
    assert.match(await text(page, "#publish-result"), /^Refused: 413 [^:]+: body too large: \d+ bytes, the limit is 1024 without a token$/);
  },

  // A busy page stays small: 200 log rows, 64 KiB of wire text.
  async bounded(browser) {
    const page = await openPage(browser);
    const tag = nonce();
    // 205 events of ~460 characters on the wire: past both bounds.
    const data = (i) => `bounded ${tag} #${i} ${"x".repeat(330)}`;
    const count = 205;
    let last;
    for (let i = 0; i < count; i++) {
      const response = await fetch(`${BASE_URL}/publish`, {
        method: "POST", body: new URLSearchParams({ topic: "chat", type: "chat", data: data(i) }),
      });
      last = (await response.text()).trim(); // the id, and a line end
      assert.equal(response.status, 200, `publish ${i}: ${last}`);
    }
    await waitForEvent(page, last, data(count - 1), 20000);
    await waitFor(page, `event ${last} is in the wire view`,
      (id) => !!document.querySelector(`#wire li.frame[data-id="${id}"]`), last);
    const s = await snapshot(page);
    assert.equal(s.logRows, 200, "the log keeps 200 rows");
    assert.ok(!s.log.some((e) => e.data === data(0)), "the oldest rows are gone");
    assert.ok(s.wireText.length <= 64 * 1024, `wire view holds ${s.wireText.length} characters`);
    assert.ok(s.wireText.length > 60 * 1024, `wire view is trimmed, not emptied: ${s.wireText.length}`);
    assert.ok(s.wire.some((e) => e.data === data(count - 1)) && !s.wire.some((e) => e.data === data(0)));
    assert.equal(s.state, "OPEN");
  },

  // The worker restarts; 3 events are published while the page waits to
  // reconnect; it reconnects by itself and shows each once. The page's timers
  // are paused while the test restarts the worker and publishes, so the page
  // certainly comes back after the 3 events.
  async "restart-publish-first"(browser) {
    const page = await openPage(browser, "/", { clock: true });
    await waitFor(page, "two ticks arrived", () => document.querySelectorAll('#log li[data-type="tick"]').length >= 2);
    await reached("page-open");
    const lastId = await waitForGiveUp(page);
    await pauseTimers(page);
    await reached("page-backing-off", lastId);
    const published = parsePublished(await told("published"));
    const s = await snapshot(page);
    assert.notEqual(s.state, "OPEN", "the page did not reconnect while its timers were paused");
    await page.clock.resume();
    await expectResumed(page, lastId, published);
  },

  // The same, but the page is back before the 3 events are published: they
  // arrive live.
  async "restart-reconnect-first"(browser) {
    const page = await openPage(browser);
    await waitFor(page, "two ticks arrived", () => document.querySelectorAll('#log li[data-type="tick"]').length >= 2);
    await reached("page-open");
    const lastId = await waitForGiveUp(page);
    await reached("page-backing-off", lastId);
    await waitFor(page, "the page is back after the restart", () =>
      document.getElementById("state").dataset.state === "OPEN" &&
      document.querySelector('#log li.event[data-type="gap"]') !== null, null, 30000);
    await reached("page-back");
    await expectResumed(page, lastId, parsePublished(await told("published")));
  },

  // The page loads with nothing wrong in the console: no error, no failed
  // request (a missing /favicon.ico would be one), no module refused.
  async quiet(browser) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`uncaught: ${err.message}`));
    page.on("requestfailed", (r) => {
      // The streams are aborted when the scenario closes the page: not a failure.
      if (!r.url().includes("/events?")) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`);
    });
    await page.goto(BASE_URL + "/");
    await waitFor(page, "the EventSource is OPEN and two ticks are in the log", () =>
      document.getElementById("state").dataset.state === "OPEN" &&
      document.querySelectorAll('#log li.event[data-type="tick"]').length >= 2, null, 15000);
    assert.deepEqual(problems, []);
    // The icon is in the page: the browser never asks for /favicon.ico.
    assert.equal(await page.evaluate(() => document.querySelector('link[rel="icon"]')?.href.startsWith("data:")), true);
  },

  // A picture of the page at work, for the README.
  async screenshot(browser, path) {
    const page = await openPage(browser);
    await publishWithForm(page, "Hello, every open page!");
    const id1 = await publish("chat", "Custom event types get a colour of their own.", "-t", "news");
    const id2 = await publish("chat", "A plain message has no event: line.\nIts two data: lines arrive as one event.");
    await waitFor(page, "both are in the log", ([a, b]) =>
      !!document.querySelector(`#log li[data-id="${a}"]`) && !!document.querySelector(`#log li[data-id="${b}"]`), [id1, id2]);
    await waitFor(page, "a tick after them", (id) =>
      [...document.querySelectorAll('#log li[data-type="tick"]')].some((li) => BigInt(li.dataset.id) > BigInt(id)), id2);
    await page.getByLabel("Message", { exact: true }).fill("Type here, press Enter: every open page shows it");
    await page.screenshot({ path });
  },
};

// The worker stops: the stream ends, the browser retries after retry: (3 s),
// nginx answers 502, the browser gives up and the page takes over. Returns
// the last id the page saw.
async function waitForGiveUp(page) {
  await waitFor(page, "the page is reconnecting by itself after the browser gave up",
    () => document.getElementById("phase").dataset.phase === "backoff", null, 20000);
  const s = await snapshot(page);
  assert.equal(s.state, "CLOSED", "EventSource gave up for good");
  assert.ok(s.notices.some((n) => n.includes("The browser gave up")), "the log says what happened");
  assert.match(await text(page, "#countdown"), /^Next attempt in \d+\.\d s\.$/);
  return s.lastId;
}

// Stops the page's timers (a fake clock installed at load). pauseAt() runs
// the timers due in the next second first: a reconnect attempt may start
// then, and fail, since the worker is down. Wait until none is under way, so
// the page certainly has no request in flight when the worker comes back.
async function pauseTimers(page) {
  const now = await page.evaluate(() => Date.now());
  await page.clock.pauseAt(now + 1000);
  const deadline = Date.now() + 10000;
  while ((await page.evaluate(() => document.getElementById("phase").dataset.phase)) !== "backoff") {
    if (Date.now() > deadline) throw new Error(`the paused page never settled:\n${await describe(page)}`);
    await sleep(50);
  }
}

// Lines "ID<TAB>DATA" from the test, one per published event.
function parsePublished(content) {
  return content.trim().split("\n").map((line) => {
    const [id, data] = line.split("\t");
    return { id, data };
  });
}

// The page is back, said so, resumed with its last id, and shows every
// published event exactly once.
async function expectResumed(page, lastId, published) {
  assert.equal(published.length, 3);
  const newest = published.at(-1).id;
  await waitFor(page, "the 3 events, and a tick after them, are in the log", ([datas, newest]) => {
    const rows = [...document.querySelectorAll("#log li.event")];
    return datas.every((d) => rows.some((li) => li.querySelector(".data").textContent === d)) &&
      rows.some((li) => li.dataset.type === "tick" && BigInt(li.dataset.id) > BigInt(newest));
  }, [published.map((p) => p.data), newest], 20000);
  const s = await snapshot(page);
  const context = `\n${await describe(page)}`;
  for (const p of published) {
    const rows = s.log.filter((e) => e.data === p.data);
    assert.deepEqual(rows.map((e) => [e.type, e.id]), [["chat", p.id]], `"${p.data}" is shown exactly once${context}`);
  }
  assert.equal(s.state, "OPEN");
  assert.equal(s.reconnects, "1", "one reconnect counted");
  assert.ok(s.url.endsWith(`&lastEventId=${lastId}`), `the page's own EventSource resumed after ${lastId}: ${s.url}`);
  // The new worker's history starts empty: it cannot resume after an id of
  // the old run, says so with a gap event, and replays what it kept.
  const gaps = s.log.filter((e) => e.type === "gap").map((e) => JSON.parse(e.data));
  assert.ok(gaps.some((g) => g.lastEventId === lastId), `a gap event for ${lastId}: ${JSON.stringify(gaps)}`);
  assert.match(await text(page, "#gap-note"), new RegExp(`no longer had id ${lastId}`));
  assert.ok(s.notices.some((n) => n.includes(`Reconnected. The server replays what was published after id ${lastId}.`)));
  const ids = s.log.filter((e) => e.type !== "gap").map((e) => e.id);
  assertIncreasing(ids, "event ids across the restart");
}

