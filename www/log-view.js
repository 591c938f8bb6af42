// The event log: one row per event the EventSource dispatched, and a line for
// each thing that happened to the connection. At most MAX_LOG_ROWS rows, so
// a page left open for a day stays small.
import { $, addRow, colourByType, span, timeOfDay } from "./dom.js";

const MAX_LOG_ROWS = 200;

export function logEvent(event) {
  const li = document.createElement("li");
  li.className = "event";
  colourByType(li, event.type);      // data-type="tick": for CSS and tests
  li.dataset.id = event.lastEventId; // data-id="1795598513866323"

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
export function logNotice(text) {
  const li = document.createElement("li");
  li.className = "notice";
  const time = document.createElement("time");
  time.textContent = timeOfDay(new Date());
  li.append(time, " ", span("text", text));
  addRow($("log"), li, MAX_LOG_ROWS);
}
