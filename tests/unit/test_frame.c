/* Unit tests for cgi/frame.c: every byte a browser's parser will see. */
#include "frame.h"
#include "tap.h"

/* Renders ev into a fresh buffer and compares with want. */
static void expect_event(const char *name, struct sse_event ev, const char *want)
{
    struct strbuf sb = STRBUF_INIT;
    enum frame_status st = frame_event(&sb, &ev);
    if (st != FRAME_OK) {
        tap_ok(0, name);
        printf("#   refused: %s\n", frame_status_str(st));
    } else {
        tap_bytes(name, sb.ptr, sb.len, want);
    }
    strbuf_free(&sb);
}

/* The event must be refused with st, and nothing may reach the buffer. */
static void expect_refused(const char *name, struct sse_event ev, enum frame_status want)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_puts(&sb, "kept");
    enum frame_status st = frame_event(&sb, &ev);
    tap_ok(st == want && sb.len == 4 && memcmp(sb.ptr, "kept", 4) == 0, name);
    if (st != want)
        printf("#   got status %d (%s), want %d\n", st, frame_status_str(st), want);
    strbuf_free(&sb);
}

static struct sse_event data_only(struct sse_str data)
{
    return (struct sse_event){ .data = data };
}

static void data_lines(void)
{
    expect_event("plain data is one data line", data_only(SSE_STR("hello")),
                 "data: hello\n\n");
    expect_event("LF in data starts a new data line", data_only(SSE_STR("a\nb")),
                 "data: a\ndata: b\n\n");
    expect_event("CRLF in data is one line break", data_only(SSE_STR("a\r\nb")),
                 "data: a\ndata: b\n\n");
    expect_event("a lone CR in data is a line break and never reaches the wire",
                 data_only(SSE_STR("a\rid: 9")), "data: a\ndata: id: 9\n\n");
    expect_event("CR CR LF is two line breaks", data_only(SSE_STR("a\r\r\nb")),
                 "data: a\ndata:\ndata: b\n\n");
    expect_event("LF CR is two line breaks", data_only(SSE_STR("a\n\rb")),
                 "data: a\ndata:\ndata: b\n\n");
    expect_event("a trailing LF keeps an empty last data line",
                 data_only(SSE_STR("a\n")), "data: a\ndata:\n\n");
    expect_event("a leading LF keeps an empty first data line",
                 data_only(SSE_STR("\nb")), "data:\ndata: b\n\n");
    expect_event("empty data still dispatches an event", data_only(SSE_STR("")),
                 "data:\n\n");
    expect_event("absent data is written as empty data", (struct sse_event){ 0 },
                 "data:\n\n");
    expect_event("a leading space in data survives the one stripped space",
                 data_only(SSE_STR(" x")), "data:  x\n\n");
    expect_event("a colon in data needs no escaping", data_only(SSE_STR("a: b")),
                 "data: a: b\n\n");
    expect_event("a line that looks like a blank line cannot end the event early",
                 data_only(SSE_STR("a\n\nb")), "data: a\ndata:\ndata: b\n\n");
}

static void nul_in_data(void)
{
    struct strbuf sb = STRBUF_INIT;
    struct sse_event ev = data_only((struct sse_str){ "a\0b", 3 });
    enum frame_status st = frame_event(&sb, &ev);
    tap_ok(st == FRAME_OK && sb.len == 11 && memcmp(sb.ptr, "data: a\0b\n\n", 11) == 0,
           "data is length-delimited: bytes after a NUL are kept");
    strbuf_free(&sb);
}

static void fields(void)
{
    expect_event("event, id and retry come before data",
                 (struct sse_event){ .type = SSE_STR("tick"), .id = SSE_STR("42"),
                                     .retry = SSE_STR("5000"), .data = SSE_STR("{}") },
                 "event: tick\nid: 42\nretry: 5000\ndata: {}\n\n");
    expect_event("an empty event type is left out (the browser's message)",
                 (struct sse_event){ .type = SSE_STR(""), .data = SSE_STR("x") },
                 "data: x\n\n");
    expect_event("an empty id is written as a bare id: that resets Last-Event-ID",
                 (struct sse_event){ .id = SSE_STR(""), .data = SSE_STR("x") },
                 "id:\ndata: x\n\n");
    expect_event("an id may hold spaces and colons",
                 (struct sse_event){ .id = SSE_STR("a: b"), .data = SSE_STR("x") },
                 "id: a: b\ndata: x\n\n");
    expect_event("a UTF-8 event type is kept as is",
                 (struct sse_event){ .type = SSE_STR("h\xc3\xa9"), .data = SSE_STR("x") },
                 "event: h\xc3\xa9\ndata: x\n\n");
}

static void refusals(void)
{
    expect_refused("an event type with LF is refused",
                   (struct sse_event){ .type = SSE_STR("a\nb") }, FRAME_BAD_TYPE);
    expect_refused("an event type with CR is refused",
                   (struct sse_event){ .type = SSE_STR("a\rb") }, FRAME_BAD_TYPE);
    expect_refused("an event type with NUL is refused",
                   (struct sse_event){ .type = { "a\0b", 3 } }, FRAME_BAD_TYPE);
    expect_refused("an id with LF is refused",
                   (struct sse_event){ .id = SSE_STR("1\nevent: x") }, FRAME_BAD_ID);
    expect_refused("an id with CR is refused",
                   (struct sse_event){ .id = SSE_STR("1\r") }, FRAME_BAD_ID);
    expect_refused("an id with NUL is refused (browsers ignore such ids)",
                   (struct sse_event){ .id = { "1\0", 2 } }, FRAME_BAD_ID);
    expect_refused("retry with a unit is refused",
                   (struct sse_event){ .retry = SSE_STR("3000ms") }, FRAME_BAD_RETRY);
    expect_refused("an empty retry is refused",
                   (struct sse_event){ .retry = SSE_STR("") }, FRAME_BAD_RETRY);
    expect_refused("a negative retry is refused",
                   (struct sse_event){ .retry = SSE_STR("-1") }, FRAME_BAD_RETRY);
    expect_refused("retry with spaces is refused",
                   (struct sse_event){ .retry = SSE_STR(" 10") }, FRAME_BAD_RETRY);
}

static void other_frames(void)
{
    struct strbuf sb = STRBUF_INIT;
    frame_retry(&sb, 3000);
    tap_bytes("a retry frame is one retry line and a blank line", sb.ptr, sb.len,
              "retry: 3000\n\n");
    strbuf_reset(&sb);
    frame_comment(&sb, SSE_STR("heartbeat"));
    tap_bytes("a comment is a colon line and a blank line", sb.ptr, sb.len,
              ": heartbeat\n\n");
    strbuf_reset(&sb);
    frame_comment(&sb, SSE_STR("a\rdata: injected"));
    tap_bytes("a CR in a comment cannot turn its tail into a field", sb.ptr, sb.len,
              ": a\n: data: injected\n\n");
    strbuf_reset(&sb);
    frame_comment(&sb, SSE_STR(""));
    tap_bytes("an empty comment is a bare colon", sb.ptr, sb.len, ":\n\n");
    strbuf_reset(&sb);
    struct sse_event ev = data_only(SSE_STR("x"));
    frame_event(&sb, &ev);
    frame_event(&sb, &ev);
    tap_bytes("frames append one after another", sb.ptr, sb.len,
              "data: x\n\ndata: x\n\n");
    strbuf_free(&sb);
}

int main(void)
{
    data_lines();
    nul_in_data();
    fields();
    refusals();
    other_frames();
    return tap_done();
}
