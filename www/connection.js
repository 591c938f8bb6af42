// The EventSource, the page's own reconnect, and the connection panel that
// shows both. Only one EventSource is ever open: two would show every event
// twice.
import { $, setText, timeOfDay } from "./dom.js";
import { logEvent, logNotice } from "./log-view.js";
import { backoffDelay } from "./reconnect.js";
import { showStuck } from "./stuck-view.js";
import { eventsUrl } from "./topics.js";

const STATE_NAMES = ["CONNECTING", "OPEN", "CLOSED"]; // index = readyState

// Everything the page knows about its EventSource.
export const conn = {
  topics: [],
  source: null,
  lastId: "",           // id of the last event dispatched: where to resume from
  listening: new Set(), // event types with a listener on every EventSource
  lost: false,          // a connection dropped and no new one opened yet
  attempt: 0,           // page-level reconnect attempts since the last open
  timer: 0,             // the pending page-level reconnect
  retryAt: 0,           // when it fires (Date.now() clock)
  reconnects: 0,
  count: 0,
  activity: null,       // { at, what }: the last event or heartbeat
  waitingSince: 0,      // the source was made and has heard nothing yet (stuck.js)
};

// Replaces the current EventSource (if any) with a new one.
export function openSource(lastId) {
  if (conn.source) conn.source.close();
  const source = new EventSource(eventsUrl(conn.topics, lastId));
  conn.source = source;
  conn.waitingSince = Date.now();
  source.addEventListener("open", onOpen);
  source.addEventListener("error", onError);
  // EventSource has no catch-all listener: an event whose type nobody listens
  // for is dropped without a trace. So listen for every type we know of.
  for (const type of conn.listening) source.addEventListener(type, onEvent);
  const url = new URL(source.url);
  $("url").textContent = url.pathname + url.search;
  setPhase("connecting", lastId
    ? `Opening a new EventSource that resumes after id ${lastId}…`
    : "Opening the stream…");
  showState();
}

// Makes sure events of this type reach the log, on this and later sources.
// True if the type is new.
export function listenFor(type) {
  if (conn.listening.has(type)) return false;
  conn.listening.add(type);
  if (conn.source) conn.source.addEventListener(type, onEvent);
  return true;
}

function onOpen(event) {
  if (event.target !== conn.source) return; // a source we have replaced
  conn.waitingSince = 0;
  if (conn.lost) {
    conn.reconnects += 1;
    $("reconnects").textContent = String(conn.reconnects);
    logNotice(conn.lastId
      ? `Reconnected. The server replays what was published after id ${conn.lastId}.`
      : "Reconnected.");
  }
  conn.lost = false;
  conn.attempt = 0;
  cancelReconnect();
  setPhase("open", "Connected: each event appears as soon as the server writes it.");
  showState();
}

// The error event says nothing about the cause; readyState tells what the
// browser decided to do about it.
function onError(event) {
  const source = event.target;
  if (source !== conn.source) return;
  conn.waitingSince = 0; // an answer, even an error: not queued
  if (source.readyState === EventSource.CONNECTING) {
    // The stream ended after a 200 (worker stopped), or the request failed
    // with no answer at all (refused, reset): the browser retries by itself
    // after the server's "retry:" delay and sends the header Last-Event-ID
    // with the last id it saw.
    if (!conn.lost) logNotice("The stream ended. The browser reconnects by itself.");
    conn.lost = true;
    setPhase("browser-retry", "The stream ended. The browser reconnects by itself after the " +
      "server's retry: delay" + (conn.lastId ? `, sending Last-Event-ID: ${conn.lastId}.` : "."));
  } else if (source.readyState === EventSource.CLOSED) {
    // The browser gave up for good: any answer but a 200 text/event-stream
    // (nginx's 502 while the worker restarts, a 503 when it is full) ends
    // the EventSource, and no retry: delay (nor a 503's Retry-After)
    // applies. Only a new EventSource tries again, so the page makes one.
    if (!conn.lost || conn.attempt === 0) {
      logNotice("The browser gave up (an HTTP error such as 502 instead of the stream). " +
        "The page reconnects itself, with backoff.");
    }
    conn.lost = true;
    scheduleReconnect();
  }
  showState();
}

function scheduleReconnect() {
  cancelReconnect();
  const delay = backoffDelay(conn.attempt);
  conn.attempt += 1;
  conn.retryAt = Date.now() + delay;
  conn.timer = setTimeout(reconnect, delay);
  setPhase("backoff", `The browser gave up. The page opens a new EventSource itself (attempt ${conn.attempt})` +
    (conn.lastId ? `, with ?lastEventId=${conn.lastId} so nothing published meanwhile is lost.` : "."));
  showCountdown();
}

function cancelReconnect() {
  clearTimeout(conn.timer);
  conn.timer = 0;
  conn.retryAt = 0;
  showCountdown();
}

// Resume where the last dispatched event left off; the hub replays the rest.
export function reconnect() {
  cancelReconnect();
  openSource(conn.lastId);
}

// A fresh start on other topics: no reconnect pending, no attempts counted.
export function resubscribe(topics) {
  conn.topics = topics;
  conn.lost = false;
  conn.attempt = 0;
  cancelReconnect();
  openSource(conn.lastId);
}

function onEvent(event) {
  if (event.target !== conn.source) return;
  // lastEventId is the stream's last id, kept across events: an event without
  // its own "id:" line (like "gap") carries the previous one, or "" on a new
  // EventSource. Only a non-empty id moves the resume point.
  if (event.lastEventId) conn.lastId = event.lastEventId;
  conn.count += 1;
  noteActivity(event.type);
  logEvent(event);
  if (event.type === "tick") showTick(event.data);
  if (event.type === "gap") showGap(event.data);
  $("count").textContent = String(conn.count);
  $("last-id").textContent = conn.lastId || "–";
}

// ---------------------------------------------------------------------------
// The connection panel

function setPhase(phase, text) {
  const el = $("phase");
  el.dataset.phase = phase; // for CSS and tests: connecting, open, browser-retry, backoff, stuck
  setText(el, text);
}

// Mirrors source.readyState. Not every change fires an event (close() fires
// none), so render() also polls it.
function showState() {
  const name = conn.source ? STATE_NAMES[conn.source.readyState] : "CLOSED";
  const el = $("state");
  setText(el, name);
  el.dataset.state = name; // CSS colours the state via [data-state]
}

function showCountdown() {
  const el = $("countdown");
  if (!conn.retryAt) {
    setText(el, "");
    return;
  }
  const seconds = Math.max(0, (conn.retryAt - Date.now()) / 1000);
  setText(el, `Next attempt in ${seconds.toFixed(1)} s.`);
}

// The last event or heartbeat, whichever view saw it.
export function noteActivity(what) {
  conn.activity = { at: Date.now(), what };
}

function showActivity() {
  if (!conn.activity) return;
  const seconds = Math.max(0, (Date.now() - conn.activity.at) / 1000);
  setText($("activity"), `${seconds.toFixed(0)} s ago (${conn.activity.what})`);
}

// The retry: delay the wire view read from the stream.
export function showRetry(ms) {
  $("retry").textContent = `${ms} ms`;
}

function showTick(data) {
  let tick;
  try {
    tick = JSON.parse(data);
  } catch (err) {
    // Bad JSON must not break the page: the log row stays, the summary waits.
    console.warn("tick data is not JSON:", data, err);
    return;
  }
  setText($("tick"), `seq ${tick.seq}, ${tick.clients} streams open`);
}

// The hub sends "gap" when it cannot resume after the id the page asked for:
// the id is older than its history, or from before a restart. Events may be
// missing; what follows is everything the server still keeps.
function showGap(data) {
  let gap = {};
  try {
    gap = JSON.parse(data);
  } catch (err) {
    console.warn("gap data is not JSON:", data, err);
  }
  const el = $("gap-note");
  el.hidden = false;
  el.textContent = `${timeOfDay(new Date())}: the server no longer had id ${gap.lastEventId ?? "?"} ` +
    "(it restarted, or the page was away too long). Events may be missing; it replayed " +
    `everything it still keeps${gap.oldestKeptId ? `, from id ${gap.oldestKeptId}` : ""}.`;
}

// Called every 250 ms: the countdown and "seconds ago" move on their own.
export function render() {
  if (showStuck(conn.source, conn.waitingSince) && $("phase").dataset.phase !== "stuck") {
    setPhase("stuck", "Waiting for a free connection: the browser's limit, see below.");
    logNotice("This tab waits for a free connection (6 per server over HTTP/1.1): see the note above.");
  }
  showState();
  showCountdown();
  showActivity();
}

export function reconnectPending() {
  return conn.timer !== 0;
}
