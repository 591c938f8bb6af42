// A tab stuck behind the browser's connection limit. Over HTTP/1.1 a browser
// opens at most 6 connections to one host, shared by all its tabs, and each
// tab of this page holds 2 streams (the EventSource and the wire view): the
// 4th tab's requests wait in the browser's queue, forever, and no event says
// so: the EventSource just stays CONNECTING. HTTP/2 (browsers use it only
// over HTTPS) carries every stream of every tab over one connection. Pure:
// tests/page/ runs it in node.

export const STUCK_AFTER_MS = 5000;    // a connect takes milliseconds: 5 s is not slow, it is queued
export const DEFAULT_HTTPS_PORT = "8443"; // make run's and docker compose's

// Does the page talk HTTP/1.x, where the limit applies? pageProtocol is
// location.protocol; nextHop the navigation's nextHopProtocol ("h2",
// "http/1.1", or "" when the page came from the cache).
export function connectionLimited(pageProtocol, nextHop = "") {
  if (pageProtocol === "http:") return true; // no browser speaks HTTP/2 without TLS
  return /^http\/1/i.test(nextHop);
}

// Stuck: still CONNECTING (readyState 0) this long after the EventSource was
// made, without an error or an open in between (waitingSince is then 0).
export function isStuck({ readyState, waitingSince, now, limited }) {
  return limited && readyState === 0 && waitingSince > 0 && now - waitingSince >= STUCK_AFTER_MS;
}

// The same page (path and query: the same topics) over HTTPS.
export function httpsUrl(location, port = DEFAULT_HTTPS_PORT) {
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  const portPart = port === "443" ? "" : `:${port}`;
  return `https://${host}${portPart}${location.pathname}${location.search}`;
}

// What the page says, in two parts around the link.
export function stuckMessage(seconds) {
  return {
    before: `This tab's stream has waited over ${seconds} s without an answer. Over HTTP/1.1 the browser ` +
      "opens at most 6 connections to one server, shared by all its tabs, and each tab of this " +
      "page holds 2: this one waits until another tab closes. Close some tabs, or open this page " +
      "over HTTPS, where HTTP/2 carries all streams of all tabs over one connection: ",
    after: ".",
  };
}
