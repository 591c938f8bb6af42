// Client side of the SSE demo: plain JavaScript, no framework, nothing loaded
// from elsewhere. Four parts, each a group of small functions below:
//
//   1. The EventSource: opens /events, logs every event it dispatches, and
//      reconnects by itself when the browser gives up (openSource(),
//      onError(), scheduleReconnect(), backoffDelay()).
//   2. The event log: one row per dispatched event (logEvent(), logNotice()).
//   3. The wire view: a second connection read with fetch(), showing the raw
//      text/event-stream lines and what the browser makes of each frame
//      (runWire(), readWire(), LineSplitter, onWireLine(), finishFrame()).
//   4. The forms: the topic picker and the chat publish form
//      (onTopicsSubmit(), onPublishSubmit()).
//
// Everything that came from the network is put on the page with textContent
// only, never innerHTML: event data can never become markup or script.
"use strict";

const MAX_LOG_ROWS = 200;          // a page left open for a day stays small
const MAX_WIRE_CHARS = 64 * 1024;  // the same for the wire view, in characters
const BACKOFF_FIRST_MS = 1000;     // ceiling of the first page-level retry delay
const BACKOFF_MAX_MS = 30000;      // the ceiling stops doubling here
const DEFAULT_TOPICS = ["clock", "chat"];
const MAX_TOPICS = 16;                            // the worker's --max-topics default
const TOPIC_RE = /^[A-Za-z0-9\-._~:/@]{1,128}$/;  // what the worker accepts
const STATE_NAMES = ["CONNECTING", "OPEN", "CLOSED"]; // index = readyState
// Types with a colour of their own in style.css; other types get one of
// PALETTE_SIZE colours, picked from their name so it stays the same.
const STYLED_TYPES = new Set(["tick", "message", "chat", "gap"]);
const PALETTE_SIZE = 6;

const $ = (id) => document.getElementById(id);

// Everything the page knows about its EventSource.
const conn = {
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
};

// ---------------------------------------------------------------------------
// 1. The EventSource and the page's own reconnect

// /events?topic=a&topic=b, plus ?lastEventId= when resuming. EventSource
// cannot set request headers, so the id goes into the query; the worker reads
// it there when no Last-Event-ID header came.
function eventsUrl(topics, lastId) {
  const query = new URLSearchParams();
  for (const topic of topics) query.append("topic", topic);
  if (lastId) query.set("lastEventId", lastId);
  return "/events?" + query.toString();
}

// Replaces the current EventSource (if any) with a new one. Only one is ever
// open: two would show every event twice.
function openSource(lastId) {
  if (conn.source) conn.source.close();
  const source = new EventSource(eventsUrl(conn.topics, lastId));
  conn.source = source;
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
function listenFor(type) {
  if (conn.listening.has(type)) return false;
  conn.listening.add(type);
  if (conn.source) conn.source.addEventListener(type, onEvent);
  return true;
}

function onOpen(event) {
  if (event.target !== conn.source) return; // a source we have replaced
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
  if (source.readyState === EventSource.CONNECTING) {
    // The stream broke after a 200 (worker stopped, network hiccup): the
    // browser retries by itself after the server's "retry:" delay and sends
    // the header Last-Event-ID with the last id it saw.
    if (!conn.lost) logNotice("The stream ended. The browser reconnects by itself.");
    conn.lost = true;
    setPhase("browser-retry", "The stream ended. The browser reconnects by itself after the " +
      "server's retry: delay" + (conn.lastId ? `, sending Last-Event-ID: ${conn.lastId}.` : "."));
  } else if (source.readyState === EventSource.CLOSED) {
    // The browser gave up for good: any answer but a 200 text/event-stream
    // (nginx's 502 while the worker restarts, a 503 when it is full) ends
    // the EventSource, and no retry: delay applies. Only a new EventSource
    // tries again, so the page makes one itself.
    if (!conn.lost || conn.attempt === 0) {
      logNotice("The browser gave up (an HTTP error such as 502 instead of the stream). " +
        "The page reconnects itself, with backoff.");
    }
    conn.lost = true;
    scheduleReconnect();
  }
  showState();
}

// Exponential backoff with jitter: the ceiling doubles with every failed
// attempt (1 s, 2 s, 4 s, … up to 30 s), and the delay is picked at random in
// its upper half. Without the randomness, every page that lost the server at
// the same moment would hit it at the same moments again, all together.
function backoffDelay(attempt) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
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
function reconnect() {
  cancelReconnect();
  openSource(conn.lastId);
}

// "Reconnect now", and the browser coming back online: no point waiting.
function reconnectNow() {
  reconnect();
  runWire();
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

// aria-live regions announce every change: only write when the text changes.
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setPhase(phase, text) {
  const el = $("phase");
  el.dataset.phase = phase; // for CSS and tests: connecting, open, browser-retry, backoff
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

function noteActivity(what) {
  conn.activity = { at: Date.now(), what };
}

function showActivity() {
  if (!conn.activity) return;
  const seconds = Math.max(0, (Date.now() - conn.activity.at) / 1000);
  setText($("activity"), `${seconds.toFixed(0)} s ago (${conn.activity.what})`);
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

function render() {
  showState();
  showCountdown();
  showActivity();
}

// ---------------------------------------------------------------------------
// 2. The event log

function timeOfDay(date) {
  return date.toTimeString().slice(0, 8) + "." + String(date.getMilliseconds()).padStart(3, "0");
}

function span(className, text) {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}

// Custom types get a palette slot from a hash of their name.
function colourSlot(type) {
  let hash = 0;
  for (const ch of type) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return String(hash % PALETTE_SIZE);
}

function addRow(list, li, max) {
  list.prepend(li); // newest on top
  while (list.children.length > max) list.lastElementChild.remove();
}

function logEvent(event) {
  const li = document.createElement("li");
  li.className = "event";
  li.dataset.type = event.type;      // data-type="tick": for CSS and tests
  li.dataset.id = event.lastEventId; // data-id="1795598513866323"
  if (!STYLED_TYPES.has(event.type)) li.dataset.slot = colourSlot(event.type);

  const now = new Date();
  const time = document.createElement("time");
  time.dateTime = now.toISOString();
  time.textContent = timeOfDay(now);
  const id = event.type === "gap" ? "no id: line" : event.lastEventId ? `id ${event.lastEventId}` : "no id";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.append(time, " ", span("type", event.type), " ", span("id", id));

  // Several "data:" lines arrive joined with "\n"; CSS pre-wrap shows them.
  const data = document.createElement("pre");
  data.className = "data";
  data.textContent = event.data;
  li.append(meta, data);
  addRow($("log"), li, MAX_LOG_ROWS);
}

// A line about the connection itself, in the log's own order.
function logNotice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  const time = document.createElement("time");
  time.textContent = timeOfDay(new Date());
  li.append(time, " ", span("text", text));
  addRow($("log"), li, MAX_LOG_ROWS);
}

// ---------------------------------------------------------------------------
// 3. The wire view: the same stream, unparsed

const wire = {
  controller: null, // aborts the current fetch
  attempt: 0,
  timer: 0,
  lastId: "",       // sent as the Last-Event-ID header: fetch, unlike EventSource, may set it
  chars: 0,         // characters shown, for the 64 KiB bound
};

function isEventStream(response) {
  const type = response.headers.get("Content-Type") || "";
  return response.status === 200 && type.split(";")[0].trim() === "text/event-stream";
}

// One connection at a time: (re)starting aborts the previous one.
function stopWire() {
  clearTimeout(wire.timer);
  if (wire.controller) wire.controller.abort();
  wire.controller = null;
}

async function runWire() {
  stopWire();
  const controller = new AbortController();
  wire.controller = controller;
  const url = eventsUrl(conn.topics, "");
  const headers = { Accept: "text/event-stream" };
  if (wire.lastId) headers["Last-Event-ID"] = wire.lastId;
  let outcome;
  try {
    const response = await fetch(url, { headers, cache: "no-store", signal: controller.signal });
    wireMarker(`GET ${url}` + (wire.lastId ? ` with Last-Event-ID: ${wire.lastId}` : "") +
      ` → ${response.status} ${response.statusText}, ${response.headers.get("Content-Type")}`);
    if (isEventStream(response)) {
      wire.attempt = 0;
      await readWire(response.body);
      outcome = "The server ended the stream";
    } else {
      if (response.body) await response.body.cancel();
      outcome = `Not an event stream (an EventSource would give up here)`;
    }
  } catch (err) {
    if (controller.signal.aborted) return; // closed on purpose
    outcome = `The connection failed (${err.message})`;
  }
  if (wire.controller !== controller) return;
  // Same backoff as the EventSource, with its own attempt count.
  const delay = backoffDelay(wire.attempt);
  wire.attempt += 1;
  wireMarker(`${outcome}; reading again in ${(delay / 1000).toFixed(1)} s.`);
  wire.timer = setTimeout(runWire, delay);
}

// Decodes the bytes as UTF-8 (the format's only encoding) as they arrive.
// Each connection parses on its own: a new one starts with no frame open.
async function readWire(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const stream = { frame: null }; // the frame being received
  const lines = new LineSplitter((text, eol) => onWireLine(stream, text, eol));
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      lines.push(value);
    }
  } finally {
    cutOff(stream);
  }
}

// A frame still open when its stream ends is never dispatched.
function cutOff(stream) {
  if (!stream.frame) return;
  const { li } = stream.frame;
  stream.frame = null;
  li.classList.remove("pending");
  li.dataset.kind = "cut";
  const caption = span("caption", "→ cut off: the stream ended before the blank line, so the browser drops this frame");
  li.append(caption);
  countWireChars(li, caption.textContent.length);
}

// Cuts text into lines the way a browser does: a line ends at CRLF, at LF,
// and at a lone CR. A CR at the very end of a chunk may be the first half of
// a CRLF, so it waits for the next chunk.
class LineSplitter {
  constructor(onLine) {
    this.buffer = "";
    this.onLine = onLine;
  }

  push(text) {
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== "\n" && ch !== "\r") continue;
      if (ch === "\r" && i + 1 === this.buffer.length) break;
      const eol = ch === "\r" && this.buffer[i + 1] === "\n" ? "\r\n" : ch;
      this.onLine(this.buffer.slice(start, i), eol);
      i += eol.length - 1;
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }
}

function newFrame() {
  const li = document.createElement("li");
  li.className = "frame pending";
  li.dataset.chars = "0";
  const pre = document.createElement("pre");
  li.append(pre);
  addRow($("wire"), li, Infinity);
  return { li, pre, type: "", data: [], comments: [], retry: "", fields: 0 };
}

// Shows one line as it arrived, its line end made visible, and applies it the
// way the WHATWG parser does.
function onWireLine(stream, text, eol) {
  const frame = stream.frame || (stream.frame = newFrame());
  showWireLine(frame, text, eol);
  if (text === "") {
    finishFrame(frame);
    stream.frame = null;
    return;
  }
  if (text.startsWith(":")) {
    frame.comments.push(text.slice(1).trim());
    return;
  }
  frame.fields += 1;
  const colon = text.indexOf(":");
  const name = colon < 0 ? text : text.slice(0, colon);
  let value = colon < 0 ? "" : text.slice(colon + 1);
  if (value.startsWith(" ")) value = value.slice(1); // one space, only one
  if (name === "event") frame.type = value;
  else if (name === "data") frame.data.push(value);
  else if (name === "id" && !value.includes("\0")) wire.lastId = value;
  else if (name === "retry" && /^[0-9]+$/.test(value)) frame.retry = value;
}

const EOL_NAMES = { "\n": "\\n", "\r\n": "\\r\\n", "\r": "\\r" };

function showWireLine(frame, text, eol) {
  const line = document.createElement("span");
  line.className = text === "" ? "line blank" : text.startsWith(":") ? "line comment" : "line";
  const txt = span("txt", "");
  const colon = text.indexOf(":");
  if (colon > 0) txt.append(span("name", text.slice(0, colon)), text.slice(colon)); // field name in colour
  else txt.textContent = text;
  line.append(txt, span("eol", EOL_NAMES[eol]), "\n");
  frame.pre.append(line);
  countWireChars(frame.li, line.textContent.length);
}

// The blank line ends the frame: say what the browser does with it.
function finishFrame(frame) {
  const { li } = frame;
  li.classList.remove("pending");
  let caption;
  if (frame.data.length > 0) {
    // The browser joins the data: lines with "\n" and dispatches one event.
    const type = frame.type || "message";
    li.dataset.kind = "event";
    li.dataset.type = type;
    li.dataset.id = wire.lastId;
    if (!STYLED_TYPES.has(type)) li.dataset.slot = colourSlot(type);
    caption = `→ dispatched: a "${type}" event` + (wire.lastId ? `, lastEventId ${wire.lastId}` : "");
    if (frame.data.length > 1) caption += `, its ${frame.data.length} data: lines joined with \\n`;
    if (listenFor(type)) {
      logNotice(`New event type "${type}" seen on the wire: the log listens for it from now on ` +
        "(EventSource has no catch-all listener; an event of a type nobody listens for is dropped).");
    }
  } else if (frame.comments.length > 0 && frame.fields === 0) {
    li.dataset.kind = "comment";
    noteActivity(frame.comments[0] || "comment");
    caption = "→ a comment: the browser ignores it" +
      (frame.comments.includes("heartbeat") ? " (a heartbeat keeps idle proxies from closing the stream)" : "");
  } else if (frame.retry) {
    li.dataset.kind = "retry";
    $("retry").textContent = `${frame.retry} ms`;
    caption = `→ no data, so no event; the browser now waits ${frame.retry} ms before reconnecting`;
  } else {
    li.dataset.kind = "empty";
    caption = "→ no data: nothing is dispatched";
  }
  const p = span("caption", caption);
  li.append(p);
  countWireChars(li, p.textContent.length);
}

function wireMarker(text) {
  const li = document.createElement("li");
  li.className = "marker";
  li.dataset.chars = "0";
  li.append(span("text", `${timeOfDay(new Date())} ${text}`));
  addRow($("wire"), li, Infinity);
  countWireChars(li, li.textContent.length);
}

// Keeps the text in the wire view under MAX_WIRE_CHARS by dropping the
// oldest frames; n is the length of the text just added to li.
function countWireChars(li, n) {
  li.dataset.chars = String(Number(li.dataset.chars) + n);
  wire.chars += n;
  const list = $("wire");
  while (wire.chars > MAX_WIRE_CHARS && list.children.length > 1) {
    const oldest = list.lastElementChild;
    wire.chars -= Number(oldest.dataset.chars);
    oldest.remove();
  }
}

// ---------------------------------------------------------------------------
// 4. Topics and publishing

// Topics from the page's own query (?topic=a&topic=b), else the defaults.
function initialTopics() {
  const topics = new URLSearchParams(location.search).getAll("topic").filter((t) => TOPIC_RE.test(t));
  return topics.length > 0 ? topics.slice(0, MAX_TOPICS) : DEFAULT_TOPICS;
}

function showTopicsInForm(topics) {
  const form = $("topics-form");
  for (const box of form.querySelectorAll('input[name="topic"]')) box.checked = topics.includes(box.value);
  const fixed = [...form.querySelectorAll('input[name="topic"]')].map((box) => box.value);
  form.elements.more.value = topics.filter((t) => !fixed.includes(t)).join(", ");
}

function topicsFromForm(form) {
  const checked = [...form.querySelectorAll('input[name="topic"]:checked')].map((box) => box.value);
  const more = form.elements.more.value.split(",").map((t) => t.trim()).filter(Boolean);
  return [...new Set([...checked, ...more])];
}

// Reopens both streams on the new topics. The EventSource resumes after the
// last id: events of the topics kept are not shown twice, none are lost.
function subscribe(topics) {
  conn.topics = topics;
  history.replaceState(null, "", "?" + topics.map((t) => "topic=" + encodeURIComponent(t)).join("&"));
  logNotice(`Subscribed to: ${topics.join(", ")}.`);
  conn.lost = false;
  conn.attempt = 0;
  cancelReconnect();
  openSource(conn.lastId);
  runWire();
}

function onTopicsSubmit(event) {
  event.preventDefault();
  const topics = topicsFromForm(event.currentTarget);
  const bad = topics.filter((t) => !TOPIC_RE.test(t));
  let error = "";
  if (topics.length === 0) error = "Pick at least one topic.";
  else if (bad.length > 0) error = `Not a valid topic: ${bad.join(", ")} (use 1 to 128 of A-Z a-z 0-9 - . _ ~ : / @).`;
  else if (topics.length > MAX_TOPICS) error = `At most ${MAX_TOPICS} topics.`;
  $("topics-error").textContent = error;
  if (!error) subscribe(topics);
}

function showPublishResult(text, kind) {
  const el = $("publish-result");
  el.dataset.kind = kind; // ok, error, busy
  el.textContent = text;
}

// Posts the form as application/x-www-form-urlencoded, as the browser itself
// would. The answer is the new event's id, or a one-line reason (4xx).
async function onPublishSubmit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const body = new URLSearchParams(new FormData(form));
  const type = body.get("type").trim();
  if (type) body.set("type", type);
  else body.delete("type"); // no event: line, so a plain "message" event
  listenFor(type || "message"); // before it is sent, so its event is not missed
  const button = form.querySelector("button");
  button.disabled = true;
  showPublishResult("Publishing…", "busy");
  try {
    const response = await fetch("/publish", { method: "POST", body });
    const text = (await response.text()).trim();
    if (response.ok) {
      showPublishResult(`Published as id ${text}.`, "ok");
      form.elements.data.value = "";
    } else {
      showPublishResult(`Refused: ${response.status} ${response.statusText}: ${text}`, "error");
    }
  } catch (err) {
    showPublishResult(`Could not reach the server: ${err.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

// Enter sends, Shift+Enter starts a new line: as in a chat.
function onMessageKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    event.currentTarget.form.requestSubmit();
  }
}

// ---------------------------------------------------------------------------

function start() {
  // The types this page expects: its own colours, and those the form offers.
  for (const type of STYLED_TYPES) listenFor(type);
  for (const option of $("known-types").options) listenFor(option.value);
  $("topics-form").addEventListener("submit", onTopicsSubmit);
  $("publish-form").addEventListener("submit", onPublishSubmit);
  $("publish-data").addEventListener("keydown", onMessageKey);
  $("reconnect-now").addEventListener("click", reconnectNow);
  window.addEventListener("online", () => {
    if (conn.timer) reconnectNow();
  });
  conn.topics = initialTopics();
  showTopicsInForm(conn.topics);
  openSource("");
  runWire();
  setInterval(render, 250);
}

start();
