// The page's reconnect policy (www/reconnect.js) and its topics and URLs
// (www/topics.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { BACKOFF_MAX_MS, backoffDelay, isEventStream } from "../../www/reconnect.js";
import { DEFAULT_TOPICS, MAX_TOPICS, eventsUrl, topicsError, topicsFromQuery } from "../../www/topics.js";

// --- backoff
test("the ceiling doubles from 1 s with every attempt and stops at 30 s", () => {
  const ceilings = [0, 1, 2, 3, 4, 5, 6, 10].map((attempt) => backoffDelay(attempt, () => 1 - Number.EPSILON));
  assert.deepEqual(ceilings.map(Math.round), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test("the delay is drawn in the upper half of the ceiling", () => {
  for (let attempt = 0; attempt < 8; attempt++) {
    const ceiling = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** attempt);
    assert.equal(backoffDelay(attempt, () => 0), ceiling / 2);
    assert.equal(backoffDelay(attempt, () => 0.5), ceiling * 0.75);
  }
});

test("pages that lost the server together spread their attempts", () => {
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(3)));
  assert.ok(delays.size > 40, `50 draws, ${delays.size} distinct delays`);
  for (const d of delays) assert.ok(d >= 4000 && d < 8000, `${d} in [4000, 8000)`);
});

// --- what an EventSource accepts as a stream
test("a 200 text/event-stream, with or without parameters, in any case", () => {
  assert.ok(isEventStream(200, "text/event-stream"));
  assert.ok(isEventStream(200, "text/event-stream; charset=utf-8"));
  assert.ok(isEventStream(200, "Text/Event-Stream"));
});

test("any other status or type fails the connection", () => {
  assert.ok(!isEventStream(204, "text/event-stream"));
  assert.ok(!isEventStream(502, "text/html"));
  assert.ok(!isEventStream(503, "text/event-stream"));
  assert.ok(!isEventStream(200, "text/plain"));
  assert.ok(!isEventStream(200, null));
});

// --- topics
test("the /events URL repeats topic= and adds lastEventId= only when resuming", () => {
  assert.equal(eventsUrl(["clock", "chat"], ""), "/events?topic=clock&topic=chat");
  assert.equal(eventsUrl(["a/b"], "17"), "/events?topic=a%2Fb&lastEventId=17");
});

test("the page's own query picks the topics; invalid ones are left out", () => {
  assert.deepEqual(topicsFromQuery("?topic=news&topic=bad%20one&topic=chat"), ["news", "chat"]);
  assert.deepEqual(topicsFromQuery(""), DEFAULT_TOPICS);
  assert.equal(topicsFromQuery("?" + Array.from({ length: 20 }, (_, i) => `topic=t${i}`).join("&")).length, MAX_TOPICS);
});

test("the form says why topics would be refused", () => {
  assert.equal(topicsError(["chat"]), "");
  assert.equal(topicsError([]), "Pick at least one topic.");
  assert.match(topicsError(["ok", "not ok"]), /^Not a valid topic: not ok /);
  assert.equal(topicsError(Array.from({ length: 17 }, (_, i) => `t${i}`)), "At most 16 topics.");
});
