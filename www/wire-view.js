// The wire view: a second connection to /events, read with fetch() and shown
// unparsed: every line as it arrived, its line end made visible, and under
// each frame what the browser does with it (sse-parse.js decides that).
import { $, addRow, colourByType, span, timeOfDay } from "./dom.js";
import { conn, listenFor, noteActivity, showRetry } from "./connection.js";
import { logNotice } from "./log-view.js";
import { backoffDelay, isEventStream } from "./reconnect.js";
import { FrameParser, LineSplitter, StreamDecoder } from "./sse-parse.js";
import { eventsUrl } from "./topics.js";

const MAX_WIRE_CHARS = 64 * 1024; // the text shown, in characters
const EOL_NAMES = { "\n": "\\n", "\r\n": "\\r\\n", "\r": "\\r" };

const wire = {
  controller: null, // aborts the current fetch
  attempt: 0,
  timer: 0,
  lastId: "",       // sent as the Last-Event-ID header: fetch, unlike EventSource, may set it
  chars: 0,         // characters shown, for the 64 KiB bound
};

// One connection at a time: (re)starting aborts the previous one.
function stopWire() {
  clearTimeout(wire.timer);
  if (wire.controller) wire.controller.abort();
  wire.controller = null;
}

export async function runWire() {
  stopWire();
  const controller = new AbortController();
  wire.controller = controller;
  const url = eventsUrl(conn.topics, "");
  const headers = { Accept: "text/event-stream" };
  if (wire.lastId) headers["Last-Event-ID"] = wire.lastId;
  let outcome;
  try {
    const response = await fetch(url, { headers, cache: "no-store", signal: controller.signal });
    const type = response.headers.get("Content-Type");
    wireMarker(`GET ${url}` + (wire.lastId ? ` with Last-Event-ID: ${wire.lastId}` : "") +
      ` → ${response.status} ${response.statusText}, ${type}`);
    if (isEventStream(response.status, type)) {
      wire.attempt = 0;
      await readWire(response.body);
      outcome = "The server ended the stream";
    } else {
      if (response.body) await response.body.cancel();
      outcome = "Not an event stream (an EventSource would give up here)";
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

// Each connection parses on its own: a new one starts with no frame open,
// resuming after the last id seen.
async function readWire(body) {
  const reader = body.getReader();
  const decoder = new StreamDecoder();
  const parser = new FrameParser(wire.lastId);
  const view = { li: null, pre: null }; // the frame being received
  const lines = new LineSplitter((text, eol) => onWireLine(parser, view, text, eol));
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      lines.push(decoder.decode(value));
    }
    lines.push(decoder.end());
    lines.end();
  } finally {
    cutOff(view);
  }
}

// Shows one line as it arrived and hands it to the parser; a blank line ends
// the frame.
function onWireLine(parser, view, text, eol) {
  if (!view.li) Object.assign(view, newFrame());
  showWireLine(view, text, eol);
  const outcome = parser.line(text);
  if (!outcome) return;
  wire.lastId = parser.lastEventId;
  showOutcome(view.li, outcome);
  view.li = null;
  view.pre = null;
}

function newFrame() {
  const li = document.createElement("li");
  li.className = "frame pending";
  li.dataset.chars = "0";
  const pre = document.createElement("pre");
  li.append(pre);
  addRow($("wire"), li, Infinity);
  return { li, pre };
}

function showWireLine(view, text, eol) {
  const line = document.createElement("span");
  line.className = text === "" ? "line blank" : text.startsWith(":") ? "line comment" : "line";
  const txt = span("txt", "");
  const colon = text.indexOf(":");
  if (colon > 0) txt.append(span("name", text.slice(0, colon)), text.slice(colon)); // field name in colour
  else txt.textContent = text;
  line.append(txt, span("eol", EOL_NAMES[eol]), "\n");
  view.pre.append(line);
  countWireChars(view.li, line.textContent.length);
}

// A frame still open when its stream ends is never dispatched.
function cutOff(view) {
  if (!view.li) return;
  const { li } = view;
  view.li = null;
  li.classList.remove("pending");
  li.dataset.kind = "cut";
  addCaption(li, "→ cut off: the stream ended before the blank line, so the browser drops this frame");
}

// The blank line ended the frame: say what the browser does with it.
function showOutcome(li, outcome) {
  li.classList.remove("pending");
  li.dataset.kind = outcome.kind;
  let caption;
  if (outcome.kind === "event") {
    // The browser joins the data: lines with "\n" and dispatches one event.
    const { type, lastEventId } = outcome;
    colourByType(li, type);
    li.dataset.id = lastEventId;
    caption = `→ dispatched: a "${type}" event` + (lastEventId ? `, lastEventId ${lastEventId}` : "");
    if (outcome.dataLines > 1) caption += `, its ${outcome.dataLines} data: lines joined with \\n`;
    if (listenFor(type)) {
      logNotice(`New event type "${type}" seen on the wire: the log listens for it from now on ` +
        "(EventSource has no catch-all listener; an event of a type nobody listens for is dropped).");
    }
  } else if (outcome.kind === "comment") {
    noteActivity(outcome.comments[0] || "comment");
    caption = "→ a comment: the browser ignores it" +
      (outcome.comments.includes("heartbeat") ? " (a heartbeat keeps idle proxies from closing the stream)" : "");
  } else if (outcome.kind === "retry") {
    showRetry(outcome.retry);
    caption = `→ no data, so no event; the browser now waits ${outcome.retry} ms before reconnecting`;
  } else {
    caption = "→ no data: nothing is dispatched";
    // The standard sets the last event id before it checks for data.
    if (outcome.hasId) {
      caption += outcome.lastEventId ? `, but the last event id is now ${outcome.lastEventId}` : ", but the last event id is now empty";
    }
  }
  addCaption(li, caption);
}

function addCaption(li, text) {
  li.append(span("caption", text));
  countWireChars(li, text.length);
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
