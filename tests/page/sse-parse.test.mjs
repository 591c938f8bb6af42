// The wire view's text/event-stream parser (www/sse-parse.js), fed bytes in
// every way a network may cut them. The cases follow the WHATWG standard and
// match what tests/unit/test_frame.c checks on the worker's side.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FrameParser, LineSplitter, StreamDecoder, parseLine } from "../../www/sse-parse.js";

const bytes = (text) => new TextEncoder().encode(text);

// Runs bytes (one Uint8Array per chunk) through decoder, splitter and parser
// as the wire view does; returns the lines with their ends, every frame's
// outcome, and the parser.
function parse(chunks, lastEventId = "") {
  const decoder = new StreamDecoder();
  const parser = new FrameParser(lastEventId);
  const lines = [];
  const frames = [];
  const splitter = new LineSplitter((text, eol) => {
    lines.push([text, eol]);
    const outcome = parser.line(text);
    if (outcome) frames.push(outcome);
  });
  for (const chunk of chunks) splitter.push(decoder.decode(chunk));
  splitter.push(decoder.end());
  splitter.end();
  return { lines, frames, parser };
}

const parseText = (...texts) => parse(texts.map(bytes));
const events = (result) => result.frames.filter((f) => f.kind === "event");

// Every way of cutting the bytes of text in two.
function everySplit(text) {
  const all = bytes(text);
  return Array.from({ length: all.length + 1 }, (_, i) => parse([all.slice(0, i), all.slice(i)]));
}

// --- line ends
test("LF, CRLF and a lone CR each end a line", () => {
  const { lines } = parseText("a\nb\r\nc\rd\n");
  assert.deepEqual(lines, [["a", "\n"], ["b", "\r\n"], ["c", "\r"], ["d", "\n"]]);
});

test("CR LF split across two chunks is one line end, not two", () => {
  const { lines } = parseText("data: x\r", "\ndata: y\r\n\r\n");
  assert.deepEqual(lines, [["data: x", "\r\n"], ["data: y", "\r\n"], ["", "\r\n"]]);
});

test("a lone CR at the end of a chunk waits for the next, then ends its line", () => {
  const { lines, frames } = parseText("data: x\r", "\r");
  assert.deepEqual(lines, [["data: x", "\r"], ["", "\r"]]);
  assert.deepEqual(events({ frames }).map((e) => e.data), ["x"]);
});

test("a lone CR as the stream's last byte still ends its line", () => {
  const { lines } = parseText("data: x\n", "\r");
  assert.deepEqual(lines, [["data: x", "\n"], ["", "\r"]]);
});

test("CR CR LF is two line ends, LF CR is two line ends", () => {
  assert.deepEqual(parseText("a\r\r\nb\n\rc\n").lines,
    [["a", "\r"], ["", "\r\n"], ["b", "\n"], ["", "\r"], ["c", "\n"]]);
});

test("frames ended by CR, CRLF or LF dispatch the same events, however the bytes are cut", () => {
  for (const eol of ["\n", "\r\n", "\r"]) {
    const text = ["event: chat", "id: 7", "data: one", "data: two", "", ""].join(eol);
    for (const result of everySplit(text)) {
      assert.deepEqual(events(result), [{ kind: "event", type: "chat", data: "one\ntwo", dataLines: 2, lastEventId: "7" }],
        `line end ${JSON.stringify(eol)}`);
    }
  }
});

test("a multi-byte character cut between chunks arrives whole", () => {
  for (const result of everySplit("data: é€😀\n\n")) assert.equal(events(result)[0].data, "é€😀");
});

// --- byte order mark
test("one leading BOM is dropped, even when its bytes are cut across chunks", () => {
  for (const result of everySplit("\uFEFFdata: x\n\n")) {
    assert.deepEqual(result.lines[0], ["data: x", "\n"]);
    assert.equal(events(result)[0].data, "x");
  }
});

test("a second BOM is text: the line is then a field named \\uFEFFdata, which is ignored", () => {
  const result = parseText("\uFEFF\uFEFFdata: x\n\n");
  assert.deepEqual(result.lines[0], ["\uFEFFdata: x", "\n"]);
  assert.deepEqual(events(result), []);
});

// --- fields
test("one space after the colon is dropped, only one", () => {
  assert.deepEqual(parseLine("data:  two"), { kind: "field", name: "data", value: " two" });
  assert.deepEqual(parseLine("data:none"), { kind: "field", name: "data", value: "none" });
});

test("a line with no colon is a field with an empty value", () => {
  assert.deepEqual(parseLine("data"), { kind: "field", name: "data", value: "" });
  assert.deepEqual(events(parseText("data\ndata\n\n"))[0].data, "\n");
});

test("a line starting with a colon is a comment; a frame of comments dispatches nothing", () => {
  assert.deepEqual(parseLine(": heartbeat"), { kind: "comment", text: " heartbeat" });
  assert.deepEqual(parseText(": heartbeat\n\n").frames, [{ kind: "comment", comments: ["heartbeat"] }]);
});

test("an id may hold spaces and colons", () => {
  assert.equal(events(parseText("id: a: b\ndata: x\n\n"))[0].lastEventId, "a: b");
});

test("unknown fields are ignored", () => {
  assert.deepEqual(events(parseText("foo: bar\ndata: x\n\n")), [{ kind: "event", type: "message", data: "x", dataLines: 1, lastEventId: "" }]);
});

test("no event: line means a \"message\" event", () => {
  assert.equal(events(parseText("data: x\n\n"))[0].type, "message");
});

// --- retry
test("retry: with digits only sets the reconnection delay", () => {
  const { frames, parser } = parseText("retry: 3000\n\n");
  assert.deepEqual(frames, [{ kind: "retry", retry: "3000" }]);
  assert.equal(parser.retry, "3000");
});

test("retry: with anything but digits is ignored", () => {
  for (const value of ["3000ms", " 10", "-1", "", "1.5", "1e3"]) {
    const { frames, parser } = parseText(`retry: 1000\n\nretry: ${value}\n\n`);
    assert.deepEqual(frames[1], { kind: "empty", lastEventId: "", hasId: false }, `retry: ${value}`);
    assert.equal(parser.retry, "1000", `retry: ${value} keeps the earlier delay`);
  }
});

// --- last event id
test("a frame without id: keeps the previous id, and a new stream starts from the id it resumed after", () => {
  const result = parse([bytes("id: 5\ndata: a\n\ndata: b\n\n")], "2");
  assert.deepEqual(events(result).map((e) => e.lastEventId), ["5", "5"]);
  assert.equal(events(parse([bytes("data: c\n\n")], "9"))[0].lastEventId, "9");
});

test("an empty id: clears the last event id", () => {
  const result = parseText("id: 5\ndata: a\n\nid:\ndata: b\n\n");
  assert.deepEqual(events(result).map((e) => e.lastEventId), ["5", ""]);
  assert.equal(result.parser.lastEventId, "");
});

test("an id holding NUL is ignored", () => {
  assert.equal(events(parseText("id: 5\ndata: a\n\nid: 6\0\ndata: b\n\n"))[1].lastEventId, "5");
});

test("a frame with an id and no data dispatches nothing but still sets the last event id", () => {
  const result = parseText("id: 5\ndata: a\n\nid: 6\n\n");
  assert.deepEqual(result.frames[1], { kind: "empty", lastEventId: "6", hasId: true });
  assert.equal(result.parser.lastEventId, "6");
});

test("the id of a frame cut off by the end of the stream is not taken", () => {
  const result = parseText("id: 5\ndata: a\n\nid: 6\ndata: b\n");
  assert.deepEqual(events(result).map((e) => e.data), ["a"]);
  assert.equal(result.parser.lastEventId, "5");
});

// --- the end of the stream
test("a frame without its blank line is never dispatched", () => {
  assert.deepEqual(parseText("data: a\n").frames, []);
});

test("text after the last line end is an unfinished line and is dropped", () => {
  const { lines } = parseText("data: a\n\ndata: b");
  assert.deepEqual(lines.map(([text]) => text), ["data: a", ""]);
});
