/*
 * Checks the load client's parsers on recorded-style responses, fed whole,
 * byte by byte and split in two at every position: a socket read can end
 * anywhere, and a parser that only works on whole lines would miscount
 * events under load, which is exactly when it matters. Prints TAP.
 */
#include <stdio.h>
#include <string.h>

#include "http-sse.h"

/* What the callbacks saw, flattened to text: "F name=value" and "D". */
struct seen {
    char text[4096];
    size_t len;
    struct sse_lines sse;
};

static void add(struct seen *s, const char *fmt, int a, const char *pa, int b, const char *pb)
{
    int n = snprintf(s->text + s->len, sizeof s->text - s->len, fmt, a, pa, b, pb);
    if (n > 0)
        s->len += (size_t)n;
}

static void on_field(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
    add(ctx, "F %.*s=%.*s\n", (int)nlen, name, (int)vlen, value);
}

static void on_dispatch(void *ctx)
{
    add(ctx, "D\n%.*s%.*s", 0, "", 0, "");
}

static const struct sse_callbacks cb = { on_field, on_dispatch };

static void on_body(void *ctx, const char *bytes, size_t n)
{
    struct seen *s = ctx;
    sse_lines_feed(&s->sse, bytes, n, &cb, s);
}

/* Feeds `in` in slices of `step` bytes after a first slice of `first`. */
static struct http_resp run(const char *in, size_t first, size_t step, struct seen *s)
{
    struct http_resp r;
    http_resp_init(&r);
    memset(s, 0, sizeof *s);
    sse_lines_init(&s->sse, 64);
    size_t n = strlen(in), off = 0;
    while (off < n) {
        size_t k = off == 0 && first ? first : step;
        if (k > n - off)
            k = n - off;
        off += http_resp_feed(&r, in + off, k, on_body, s);
        if (r.state == HTTP_DONE || r.state == HTTP_ERROR)
            break;
    }
    sse_lines_free(&s->sse);
    return r;
}

static int test_no;
static int failures;

static void ok(int cond, const char *what)
{
    printf("%sok %d - %s\n", cond ? "" : "not ", ++test_no, what);
    failures += !cond;
}

/* Same callbacks and final state for every way of slicing the input. */
static void check_all_slicings(const char *name, const char *in, const char *want,
                               enum http_state want_state)
{
    struct seen s;
    int good = 1;
    size_t n = strlen(in);
    for (size_t split = 0; split <= n && good; split++) {
        struct http_resp r = run(in, split, split ? n : 1, &s);
        good = r.state == want_state && strcmp(s.text, want) == 0;
        if (!good)
            fprintf(stderr, "# %s: split %zu: state %d, got:\n%s", name, split, r.state, s.text);
    }
    struct http_resp r = run(in, 0, 1, &s);
    good = good && r.state == want_state && strcmp(s.text, want) == 0;
    ok(good, name);
}

int main(void)
{
    /* What nginx sends for this project: chunked, CRLF chunks, LF frames. */
    check_all_slicings(
        "chunked stream, LF lines, split anywhere",
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
        "Connection: keep-alive\r\n\r\n"
        "d\r\nretry: 3000\n\n\r\n"
        "1b\r\nid: 7\ndata: {\"s\":1,\"t\":2}\n\n\r\n"
        "0\r\n\r\n",
        "F retry=3000\nD\nF id=7\nF data={\"s\":1,\"t\":2}\nD\n", HTTP_DONE);
    /* CR and CRLF line ends, a comment, one space dropped, a chunk extension. */
    check_all_slicings(
        "CR and CRLF lines, comments, chunk extension",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n"
        "6;x=y\r\n: hi\r\r\n"
        "15\r\ndata:  two\r\ndata:x\r\r\n\r\n"
        "4\r\nid\n\n\r\n",
        "D\nF data= two\nF data=x\nD\nF id=\nD\n", HTTP_CHUNK_SIZE);
    /* A publish answer with a length: the bytes after it are not consumed. */
    {
        const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
                         "12345HTTP/1.1";
        struct http_resp r;
        http_resp_init(&r);
        size_t used = http_resp_feed(&r, in, strlen(in), NULL, NULL);
        ok(r.state == HTTP_DONE && r.status == 200 && r.close && used == strlen(in) - 8,
           "Content-Length body ends the response, keep-alive leftovers untouched");
    }
    {
        struct http_resp r;
        http_resp_init(&r);
        const char *in = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
        http_resp_feed(&r, in, strlen(in), NULL, NULL);
        ok(r.state == HTTP_DONE && r.status == 503, "status and empty body");
        http_resp_init(&r);
        http_resp_feed(&r, "SSH-2.0\r\n", 9, NULL, NULL);
        ok(r.state == HTTP_ERROR, "not HTTP is an error");
    }
    {
        struct seen s;
        memset(&s, 0, sizeof s);
        sse_lines_init(&s.sse, 8);
        sse_lines_feed(&s.sse, "data: 0123456789\n\n", 18, &cb, &s);
        ok(s.sse.cut == 1 && strcmp(s.text, "F data=01\nD\n") == 0, "long lines are cut and counted");
        sse_lines_free(&s.sse);
    }
    printf("1..%d\n", test_no);
    return failures != 0;
}
