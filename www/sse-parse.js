// The text/event-stream parser of the wire view, the way the WHATWG standard
// describes it ("Parsing an event stream"). Pure: no DOM, no network, so
// tests/page/ runs it in node (`node --test`, from `make test`).
//
//   StreamDecoder  bytes -> text: UTF-8 only, one leading BOM dropped, a
//                  character split across chunks kept whole.
//   LineSplitter   text -> lines: a line ends at CRLF, LF or a lone CR.
//   parseLine      one line -> a blank line, a comment or a field.
//   FrameParser    lines -> frames, and what the browser does with each.

// Decodes a stream's bytes as they arrive. TextDecoder drops one leading
// U+FEFF (a BOM) at the start of the stream, as the standard asks, and keeps
// any later one as text; { stream: true } holds back the first bytes of a
// character cut by a chunk boundary until the rest arrives.
export class StreamDecoder {
  constructor() {
    this.decoder = new TextDecoder("utf-8");
  }

  decode(bytes) {
    return this.decoder.decode(bytes, { stream: true });
  }

  // The stream ended: bytes of an unfinished character become U+FFFD.
  end() {
    return this.decoder.decode();
  }
}

// Cuts text into lines the way a browser does: a line ends at CRLF, at LF,
// and at a lone CR. A CR at the very end of a chunk may be the first half of
// a CRLF, so it waits for the next chunk. onLine(text, eol) gets the line
// without its end, and the end itself ("\n", "\r\n" or "\r").
export class LineSplitter {
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

  // The stream ended. A CR held back was a line end after all; text after
  // the last line end is an unfinished line, which the standard discards.
  end() {
    if (this.buffer.endsWith("\r")) this.onLine(this.buffer.slice(0, -1), "\r");
    this.buffer = "";
  }
}

// One line: { kind: "blank" }, { kind: "comment", text } or
// { kind: "field", name, value }. The name runs to the first colon (the whole
// line when there is none); one space after the colon is dropped, only one.
export function parseLine(line) {
  if (line === "") return { kind: "blank" };
  if (line.startsWith(":")) return { kind: "comment", text: line.slice(1) };
  const colon = line.indexOf(":");
  if (colon < 0) return { kind: "field", name: line, value: "" };
  let value = line.slice(colon + 1);
  if (value.startsWith(" ")) value = value.slice(1);
  return { kind: "field", name: line.slice(0, colon), value };
}

const DIGITS = /^[0-9]+$/;

function emptyFrame() {
  return { type: "", data: [], comments: [], retry: null, fields: 0, hasId: false };
}

// Applies lines as the standard's parser does, one stream at a time.
// lastEventId starts as the id the stream resumes after: a frame without an
// "id:" line keeps it. line() returns null, or at a blank line the finished
// frame and its outcome:
//   { kind: "event", type, data, lastEventId, dataLines }  dispatched
//   { kind: "comment", comments }  only comments: ignored (a heartbeat)
//   { kind: "retry", retry }       no data; the reconnection delay changed
//   { kind: "empty", lastEventId, hasId }  no data: nothing dispatched
// A frame without data dispatches nothing, but its "id:" still becomes the
// source's last event id (an empty "id:" clears it).
export class FrameParser {
  constructor(lastEventId = "") {
    this.lastEventId = lastEventId; // what a reconnect sends as Last-Event-ID
    this.idBuffer = lastEventId;    // the "last event ID buffer" of the standard
    this.retry = null;              // the last valid retry:, in ms (a string of digits)
    this.frame = emptyFrame();
  }

  line(text) {
    const parsed = parseLine(text);
    if (parsed.kind === "blank") return this.finish();
    if (parsed.kind === "comment") {
      this.frame.comments.push(parsed.text.trim());
      return null;
    }
    this.field(parsed.name, parsed.value);
    return null;
  }

  field(name, value) {
    const frame = this.frame;
    frame.fields += 1;
    if (name === "event") frame.type = value;
    else if (name === "data") frame.data.push(value);
    else if (name === "id" && !value.includes("\0")) {
      this.idBuffer = value;
      frame.hasId = true;
    }
    else if (name === "retry" && DIGITS.test(value)) {
      frame.retry = value;
      this.retry = value;
    }
    // Any other name, or a retry: that is not all digits, is ignored.
  }

  finish() {
    const frame = this.frame;
    this.frame = emptyFrame();
    this.lastEventId = this.idBuffer;
    if (frame.data.length > 0) {
      return {
        kind: "event",
        type: frame.type || "message",
        data: frame.data.join("\n"),
        dataLines: frame.data.length,
        lastEventId: this.lastEventId,
      };
    }
    if (frame.comments.length > 0 && frame.fields === 0) return { kind: "comment", comments: frame.comments };
    if (frame.retry !== null) return { kind: "retry", retry: frame.retry };
    return { kind: "empty", lastEventId: this.lastEventId, hasId: frame.hasId };
  }
}
