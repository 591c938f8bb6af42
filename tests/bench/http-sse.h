/*
 * Incremental parsing for the load client: an HTTP/1.1 response (status
 * line, the few headers that matter, chunked or length-delimited body) and
 * the text/event-stream lines inside it. Both parsers take bytes in any
 * slicing, one byte at a time included, because a socket read can end
 * anywhere: inside a chunk-size line, between a CR and its LF, in a field.
 * Pure code, no I/O, so sse-parse-test can check it without a server.
 */
#ifndef BENCH_HTTP_SSE_H
#define BENCH_HTTP_SSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest response head line kept; longer ones are cut (only short ones matter). */
#define HTTP_LINE_MAX 256

enum http_state {
    HTTP_HEAD,        /* reading the status line and headers */
    HTTP_CHUNK_SIZE,  /* reading a chunk-size line */
    HTTP_CHUNK_DATA,  /* inside a chunk */
    HTTP_CHUNK_END,   /* the CRLF after a chunk's data */
    HTTP_TRAILER,     /* after the last chunk: trailer lines up to a blank one */
    HTTP_BODY_LENGTH, /* Content-Length body */
    HTTP_BODY_EOF,    /* body until the connection closes */
    HTTP_DONE,        /* the response is complete */
    HTTP_ERROR        /* not HTTP as we know it */
};

struct http_resp {
    enum http_state state;
    int status;             /* 0 until the status line is in */
    int chunked;
    int close;              /* "Connection: close": no keep-alive */
    uint64_t remaining;     /* bytes left in this chunk or body */
    int64_t content_length; /* -1 when absent */
    int cr;                 /* the last byte was a CR (line ends) */
    size_t len;
    char line[HTTP_LINE_MAX];
};

/* Body bytes, de-chunked, as they arrive. */
typedef void http_body_fn(void *ctx, const char *bytes, size_t n);

void http_resp_init(struct http_resp *r);

/*
 * Feeds n bytes; body bytes go to body_fn. Returns how many bytes were
 * consumed: fewer than n only when the response ended (HTTP_DONE) or broke
 * (HTTP_ERROR) inside the slice; the rest belongs to whatever follows.
 */
size_t http_resp_feed(struct http_resp *r, const char *buf, size_t n, http_body_fn *body_fn,
                      void *ctx);

/*
 * text/event-stream, per the WHATWG HTML standard: lines end at CRLF, LF or
 * a lone CR; "name: value" (one space after the colon dropped), a line
 * starting with ":" is a comment, a blank line dispatches the event.
 */
struct sse_callbacks {
    /* One field line; name and value are not NUL-terminated. */
    void (*field)(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen);
    /* A blank line: the event (if it had data) is complete. */
    void (*dispatch)(void *ctx);
};

struct sse_lines {
    int cr;          /* the last byte was a CR: skip an LF right after it */
    int over;        /* the current line is longer than cap */
    size_t len, cap; /* a line longer than cap is cut to cap */
    size_t cut;      /* lines that were cut */
    char *line;
};

/* cap: the longest line kept whole. Returns -1 without memory. */
int sse_lines_init(struct sse_lines *s, size_t cap);
void sse_lines_free(struct sse_lines *s);
void sse_lines_feed(struct sse_lines *s, const char *buf, size_t n,
                    const struct sse_callbacks *cb, void *ctx);

#endif
