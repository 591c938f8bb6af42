#include "frame.h"

#include <stdio.h>
#include <string.h>

/* Field names and ids may not contain these: each would end the line early. */
static int has_line_break_or_nul(struct sse_str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] == '\r' || s.ptr[i] == '\n' || s.ptr[i] == '\0')
            return 1;
    return 0;
}

static int all_digits(struct sse_str s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return 0;
    return 1;
}

/* "name: value\n", or "name:\n" for an empty value (no trailing space). */
static int put_field(struct strbuf *out, const char *name, const char *val, size_t n)
{
    if (strbuf_puts(out, name) != 0)
        return -1;
    if (n > 0 && (strbuf_append(out, ": ", 2) != 0 || strbuf_append(out, val, n) != 0))
        return -1;
    if (n == 0 && strbuf_append(out, ":", 1) != 0)
        return -1;
    return strbuf_append(out, "\n", 1);
}

/*
 * A browser ends a line at CRLF, at LF and at a lone CR, so each of those in
 * the text starts a new "name:" line. Writing a CR through would let the text
 * after it be parsed as a field of its own ("a\rid: 9" would set the id).
 */
static int put_lines(struct strbuf *out, const char *name, struct sse_str text)
{
    size_t start = 0;
    for (size_t i = 0; i <= text.len; i++) {
        int at_end = i == text.len;
        if (!at_end && text.ptr[i] != '\r' && text.ptr[i] != '\n')
            continue;
        if (put_field(out, name, text.ptr + start, i - start) != 0)
            return -1;
        if (at_end)
            break;
        if (text.ptr[i] == '\r' && i + 1 < text.len && text.ptr[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    return 0;
}

static enum frame_status validate(const struct sse_event *ev)
{
    if (ev->type.ptr && has_line_break_or_nul(ev->type))
        return FRAME_BAD_TYPE;
    if (ev->id.ptr && has_line_break_or_nul(ev->id))
        return FRAME_BAD_ID;
    if (ev->retry.ptr && !all_digits(ev->retry))
        return FRAME_BAD_RETRY;
    return FRAME_OK;
}

static int put_event(struct strbuf *out, const struct sse_event *ev)
{
    if (ev->type.ptr && ev->type.len > 0 &&
        put_field(out, "event", ev->type.ptr, ev->type.len) != 0)
        return -1;
    if (ev->id.ptr && put_field(out, "id", ev->id.ptr, ev->id.len) != 0)
        return -1;
    if (ev->retry.ptr && put_field(out, "retry", ev->retry.ptr, ev->retry.len) != 0)
        return -1;
    struct sse_str data = ev->data.ptr ? ev->data : SSE_STR("");
    if (put_lines(out, "data", data) != 0)
        return -1;
    return strbuf_append(out, "\n", 1); /* the blank line dispatches the event */
}

/* A frame is all or nothing: when an append failed, cut back to the mark. */
static enum frame_status commit(struct strbuf *out, size_t mark, int failed)
{
    if (!failed)
        return FRAME_OK;
    out->len = mark;
    if (out->ptr)
        out->ptr[mark] = '\0';
    return FRAME_NO_MEMORY;
}

enum frame_status frame_event(struct strbuf *out, const struct sse_event *ev)
{
    enum frame_status st = validate(ev);
    if (st != FRAME_OK)
        return st;
    size_t mark = out->len;
    return commit(out, mark, put_event(out, ev) != 0);
}

enum frame_status frame_retry(struct strbuf *out, unsigned long ms)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%lu", ms);
    size_t mark = out->len;
    int failed = put_field(out, "retry", digits, (size_t)n) != 0 ||
                 strbuf_append(out, "\n", 1) != 0;
    return commit(out, mark, failed);
}

enum frame_status frame_comment(struct strbuf *out, struct sse_str text)
{
    size_t mark = out->len;
    /* The field name is empty: each line becomes ": text" (or ":"). */
    int failed = put_lines(out, "", text.ptr ? text : SSE_STR("")) != 0 ||
                 strbuf_append(out, "\n", 1) != 0;
    return commit(out, mark, failed);
}

const char *frame_status_str(enum frame_status st)
{
    switch (st) {
    case FRAME_OK: return "ok";
    case FRAME_BAD_TYPE: return "event type must not contain CR, LF or NUL";
    case FRAME_BAD_ID: return "id must not contain CR, LF or NUL";
    case FRAME_BAD_RETRY: return "retry must be ASCII digits only";
    case FRAME_NO_MEMORY: return "out of memory";
    }
    return "unknown frame status";
}
