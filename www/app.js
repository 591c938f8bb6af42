// Client side of the SSE demo. Everything the browser needs is built in:
// EventSource parses text/event-stream, dispatches events and reconnects.
"use strict";

const MAX_ROWS = 200; // keep the log bounded so a page left open all day stays small
const STATE_NAMES = ["CONNECTING", "OPEN", "CLOSED"]; // index = readyState (0, 1, 2)

const $ = (id) => document.getElementById(id);
const stateEl = $("state");
const noteEl = $("note");
const logEl = $("log");
let count = 0;

// One connection for the whole page. Relative URL = same origin, so no CORS.
const source = new EventSource("/events");

// Mirror source.readyState on the page. Only touch the DOM when the value
// changes: re-writing the same text could make screen readers repeat it
// (the element is aria-live).
function showState() {
  const name = STATE_NAMES[source.readyState];
  if (stateEl.textContent !== name) {
    stateEl.textContent = name;
    stateEl.dataset.state = name; // CSS colours the state via [data-state]
  }
  if (source.readyState === EventSource.CLOSED) {
    // A closed EventSource never reopens; only a new EventSource (or a reload) would.
    noteEl.textContent = "The browser gave up (e.g. HTTP error or wrong Content-Type). Reload to try again.";
    clearInterval(poller);
  }
}

// The error event carries no details and not every state change fires an
// event (close() fires none), so also poll readyState twice a second.
const poller = setInterval(showState, 500);

source.addEventListener("open", () => {
  noteEl.textContent = "";
  showState();
});

source.addEventListener("error", () => {
  // readyState tells us what the browser decided: CONNECTING means it will
  // retry after the "retry:" delay (3 s here); CLOSED means it gave up.
  if (source.readyState === EventSource.CONNECTING) {
    noteEl.textContent = "Connection lost; the browser will reconnect and send Last-Event-ID.";
  }
  showState();
});

// Add one row to the top of the log. Event data comes from the network, so it
// is only ever inserted with textContent: it can never become HTML.
function logEvent(event) {
  const li = document.createElement("li");
  li.dataset.type = event.type;       // e.g. data-type="tick", for CSS and tests
  li.dataset.id = event.lastEventId;  // e.g. data-id="42"

  const now = new Date();
  const parts = [
    ["time", now.toLocaleTimeString()],
    ["type", event.type],
    ["id", event.lastEventId ? "id " + event.lastEventId : "no id"],
  ];
  for (const [cls, text] of parts) {
    const el = document.createElement(cls === "time" ? "time" : "span");
    el.className = cls;
    el.textContent = text;
    if (cls === "time") el.dateTime = now.toISOString();
    li.append(el, " ");
  }
  // The browser joins several "data:" lines with "\n"; CSS pre-wrap shows them.
  const data = document.createElement("pre");
  data.className = "data";
  data.textContent = event.data;
  li.append(data);

  logEl.prepend(li); // newest on top
  while (logEl.children.length > MAX_ROWS) logEl.lastElementChild.remove();

  count += 1;
  $("count").textContent = String(count);
  // lastEventId persists: an event without its own "id:" field keeps the previous one.
  $("last-id").textContent = event.lastEventId || "–";
}

// Custom event types ("event: tick") are only delivered to listeners for that
// type name. onmessage / "message" listeners only get events that had no
// "event:" field (type "message"), so they would never see ticks.
source.addEventListener("tick", (event) => {
  logEvent(event);
  let tick;
  try {
    tick = JSON.parse(event.data);
  } catch (err) {
    // Bad JSON must not break the page: keep the log row, skip the summary.
    console.warn("tick data is not valid JSON:", event.data, err);
    return;
  }
  $("seq").textContent = String(tick.seq);
  $("server-time").textContent = String(tick.time);
  $("clients").textContent = String(tick.clients);
});

// Plain events (no "event:" field), e.g. the multi-line one every 5th tick.
source.addEventListener("message", logEvent);

showState();
