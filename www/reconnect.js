// The reconnect policy: when an EventSource tries again by itself, and how
// long the page waits before it opens a new one. Pure: tests/page/ runs it
// in node.

export const BACKOFF_FIRST_MS = 1000; // ceiling of the first page-level retry delay
export const BACKOFF_MAX_MS = 30000;  // the ceiling stops doubling here

// Exponential backoff with jitter: the ceiling doubles with every failed
// attempt (1 s, 2 s, 4 s, … up to 30 s), and the delay is picked at random in
// its upper half. Without the randomness, every page that lost the server at
// the same moment would hit it at the same moments again, all together.
// (A 503's Retry-After cannot do this: EventSource ignores it.)
// random() returns a number in [0, 1), like Math.random.
export function backoffDelay(attempt, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

// What EventSource does with a response: only a 200 whose Content-Type is
// text/event-stream (parameters allowed) becomes a stream. Any other status
// or type fails the connection for good: the EventSource ends (CLOSED) and
// only a new one tries again. A stream that ends, or a network error (refused,
// reset) with no response at all, makes the browser reconnect by itself.
export function isEventStream(status, contentType) {
  const type = (contentType || "").split(";")[0].trim().toLowerCase();
  return status === 200 && type === "text/event-stream";
}
