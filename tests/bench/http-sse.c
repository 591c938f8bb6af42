#include "http-sse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void http_resp_init(struct http_resp *r)
{
    memset(r, 0, sizeof *r);
    r->state = HTTP_HEAD;
    r->content_length = -1;
}

/*
 * HTTP lines end in CRLF. A line ends at the LF and a CR anywhere is
 * dropped, so a CRLF split across two reads needs no state, and the byte
 * after the LF (body or chunk data) is never mistaken for part of the line.
 * Returns 1 when c completed a line (then in r->line, NUL-terminated).
 */
static int line_byte(struct http_resp *r, char c)
{
    if (c == '\n') {
        r->line[r->len] = '\0';
        return 1;
    }
    if (c != '\r' && r->len < sizeof r->line - 1)
        r->line[r->len++] = c;
    return 0;
}

/* "Name: value" with a case-insensitive name; returns the value or NULL. */
static const char *header_value(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    line += n + 1;
    while (*line == ' ' || *line == '\t')
        line++;
    return line;
}

static int contains_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; *p; p++)
        if (strncasecmp(p, token, n) == 0)
            return 1;
    return 0;
}

/* The blank line after the headers: how the body is delimited decides what comes next. */
static void head_done(struct http_resp *r)
{
    if (r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200))
        r->state = HTTP_DONE; /* no body (1xx would need another head: not used here) */
    else if (r->chunked)
        r->state = HTTP_CHUNK_SIZE;
    else if (r->content_length >= 0) {
        r->remaining = (uint64_t)r->content_length;
        r->state = r->remaining ? HTTP_BODY_LENGTH : HTTP_DONE;
    } else
        r->state = HTTP_BODY_EOF;
}

static void head_line(struct http_resp *r)
{
    const char *v;
    if (r->status == 0) {
        /* "HTTP/1.1 200 OK" */
        if (strncmp(r->line, "HTTP/1.", 7) != 0 || r->len < 12 || r->line[8] != ' ') {
            r->state = HTTP_ERROR;
            return;
        }
        r->status = atoi(r->line + 9);
        if (r->status < 100 || r->status > 599)
            r->state = HTTP_ERROR;
    } else if (r->len == 0) {
        head_done(r);
    } else if ((v = header_value(r->line, "Transfer-Encoding")) != NULL) {
        r->chunked = contains_token(v, "chunked");
    } else if ((v = header_value(r->line, "Content-Length")) != NULL) {
        r->content_length = strtoll(v, NULL, 10);
    } else if ((v = header_value(r->line, "Connection")) != NULL) {
        r->close = contains_token(v, "close");
    }
}

/* "1a;ext=1": hex digits, extensions ignored. Size 0 is the last chunk. */
static void chunk_size_line(struct http_resp *r)
{
    char *end;
    unsigned long long size = strtoull(r->line, &end, 16);
    if (end == r->line || (*end && *end != ';' && *end != ' ' && *end != '\t')) {
        r->state = HTTP_ERROR;
        return;
    }
    r->remaining = size;
    r->state = size ? HTTP_CHUNK_DATA : HTTP_TRAILER;
}

/* One byte of a line-based state; acts on the line once it is complete. */
static void line_state_byte(struct http_resp *r, char c)
{
    if (!line_byte(r, c))
        return;
    switch (r->state) {
    case HTTP_HEAD:
        head_line(r);
        break;
    case HTTP_CHUNK_SIZE:
        chunk_size_line(r);
        break;
    case HTTP_CHUNK_END:
        r->state = r->len == 0 ? HTTP_CHUNK_SIZE : HTTP_ERROR;
        break;
    case HTTP_TRAILER:
        if (r->len == 0)
            r->state = HTTP_DONE;
        break;
    default:
        break;
    }
    r->len = 0;
}

/* Passes up to `remaining` body bytes on; returns how many it took. */
static size_t body_bytes(struct http_resp *r, const char *buf, size_t n, http_body_fn *body_fn,
                         void *ctx)
{
    size_t take = n;
    if (r->state != HTTP_BODY_EOF && take > r->remaining)
        take = (size_t)r->remaining;
    if (take > 0 && body_fn)
        body_fn(ctx, buf, take);
    if (r->state == HTTP_BODY_EOF)
        return take;
    r->remaining -= take;
    if (r->remaining == 0)
        r->state = r->state == HTTP_CHUNK_DATA ? HTTP_CHUNK_END : HTTP_DONE;
    return take;
}

size_t http_resp_feed(struct http_resp *r, const char *buf, size_t n, http_body_fn *body_fn,
                      void *ctx)
{
    size_t i = 0;
    while (i < n && r->state != HTTP_DONE && r->state != HTTP_ERROR) {
        if (r->state == HTTP_CHUNK_DATA || r->state == HTTP_BODY_LENGTH ||
            r->state == HTTP_BODY_EOF)
            i += body_bytes(r, buf + i, n - i, body_fn, ctx);
        else
            line_state_byte(r, buf[i++]);
    }
    return i;
}

int sse_lines_init(struct sse_lines *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->cap = cap;
    s->line = malloc(cap);
    return s->line ? 0 : -1;
}

void sse_lines_free(struct sse_lines *s)
{
    free(s->line);
    s->line = NULL;
}

static void sse_line(struct sse_lines *s, const struct sse_callbacks *cb, void *ctx)
{
    const char *line = s->line;
    size_t n = s->len;
    if (n == 0) {
        cb->dispatch(ctx);
        return;
    }
    if (line[0] == ':')
        return; /* a comment: heartbeats, nchan's greeting */
    const char *colon = memchr(line, ':', n);
    size_t nlen = colon ? (size_t)(colon - line) : n;
    const char *value = colon ? colon + 1 : line + n;
    size_t vlen = (size_t)(line + n - value);
    if (vlen > 0 && value[0] == ' ') {
        value++;
        vlen--;
    }
    cb->field(ctx, line, nlen, value, vlen);
}

void sse_lines_feed(struct sse_lines *s, const char *buf, size_t n,
                    const struct sse_callbacks *cb, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\n' && s->cr) {
            s->cr = 0; /* the LF of a CRLF whose CR already ended the line */
            continue;
        }
        s->cr = c == '\r';
        if (c == '\r' || c == '\n') {
            sse_line(s, cb, ctx);
            s->len = 0;
            s->over = 0;
        } else if (s->len < s->cap) {
            s->line[s->len++] = c;
        } else if (!s->over) {
            s->over = 1; /* count each long line once */
            s->cut++;
        }
    }
}
