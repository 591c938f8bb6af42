// The page's stuck-tab logic (www/stuck.js): when a tab's EventSource is
// queued behind the browser's 6-connection limit, and where to go instead.
import assert from "node:assert/strict";
import { test } from "node:test";
import { STUCK_AFTER_MS, connectionLimited, httpsUrl, isStuck, stuckMessage } from "../../www/stuck.js";

test("plain http is always limited; https only when the page came over HTTP/1.1", () => {
  assert.equal(connectionLimited("http:", ""), true);
  assert.equal(connectionLimited("http:", "h2"), true);
  assert.equal(connectionLimited("https:", "http/1.1"), true);
  assert.equal(connectionLimited("https:", "h2"), false);
  assert.equal(connectionLimited("https:", "h3"), false);
  assert.equal(connectionLimited("https:", ""), false);
});

test("CONNECTING for the whole delay with no answer is stuck; a moment less is not", () => {
  const base = { readyState: 0, waitingSince: 1000, limited: true };
  assert.equal(isStuck({ ...base, now: 1000 + STUCK_AFTER_MS }), true);
  assert.equal(isStuck({ ...base, now: 1000 + STUCK_AFTER_MS - 1 }), false);
});

test("an open stream, a closed one, an error since, or HTTP/2 are never stuck", () => {
  const now = 100000;
  assert.equal(isStuck({ readyState: 1, waitingSince: 1, now, limited: true }), false);
  assert.equal(isStuck({ readyState: 2, waitingSince: 1, now, limited: true }), false);
  assert.equal(isStuck({ readyState: 0, waitingSince: 0, now, limited: true }), false);
  assert.equal(isStuck({ readyState: 0, waitingSince: 1, now, limited: false }), false);
});

test("the HTTPS address keeps host, path and topics, on port 8443 by default", () => {
  const loc = { hostname: "localhost", pathname: "/", search: "?topic=clock&topic=chat" };
  assert.equal(httpsUrl(loc), "https://localhost:8443/?topic=clock&topic=chat");
  assert.equal(httpsUrl(loc, "443"), "https://localhost/?topic=clock&topic=chat");
  assert.equal(httpsUrl({ hostname: "::1", pathname: "/x", search: "" }, "9443"), "https://[::1]:9443/x");
});

test("the message names the limit, the 2 streams per tab and HTTP/2", () => {
  const { before } = stuckMessage(6);
  assert.match(before, /waited over 6 s/);
  assert.match(before, /at most 6 connections/);
  assert.match(before, /holds 2/);
  assert.match(before, /HTTP\/2/);
});
