// Client side of the SSE demo: plain JavaScript modules, no framework,
// nothing loaded from elsewhere. index.html loads this one; it wires up:
//
//   connection.js  the EventSource, the page's own reconnect, the panel
//   log-view.js    one row per dispatched event
//   wire-view.js   a second connection read with fetch(), shown raw
//   forms.js       the topic picker and the chat publish form
//
// and the pure parts, tested in node (tests/page/): sse-parse.js (the
// text/event-stream parser), reconnect.js (backoff, and what makes an
// EventSource give up), topics.js (topics and the /events URL).
import { $, STYLED_TYPES } from "./dom.js";
import { conn, listenFor, openSource, reconnect, reconnectPending, render, resubscribe } from "./connection.js";
import { onMessageKey, onPublishSubmit, onTopicsSubmit, showTopicsInForm } from "./forms.js";
import { logNotice } from "./log-view.js";
import { topicsFromQuery } from "./topics.js";
import { runWire } from "./wire-view.js";

// Reopens both streams on the new topics. The EventSource resumes after the
// last id: events of the topics kept are not shown twice, none are lost.
function subscribe(topics) {
  history.replaceState(null, "", "?" + topics.map((t) => "topic=" + encodeURIComponent(t)).join("&"));
  logNotice(`Subscribed to: ${topics.join(", ")}.`);
  resubscribe(topics);
  runWire();
}

// "Reconnect now", and the browser coming back online: no point waiting.
function reconnectNow() {
  reconnect();
  runWire();
}

function start() {
  // The types this page expects: its own colours, and those the form offers.
  for (const type of STYLED_TYPES) listenFor(type);
  for (const option of $("known-types").options) listenFor(option.value);
  $("topics-form").addEventListener("submit", onTopicsSubmit(subscribe));
  $("publish-form").addEventListener("submit", onPublishSubmit);
  $("publish-data").addEventListener("keydown", onMessageKey);
  $("reconnect-now").addEventListener("click", reconnectNow);
  window.addEventListener("online", () => {
    if (reconnectPending()) reconnectNow();
  });
  conn.topics = topicsFromQuery(location.search);
  showTopicsInForm(conn.topics);
  openSource("");
  runWire();
  setInterval(render, 250);
}

start();
