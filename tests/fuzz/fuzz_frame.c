/*
 * The frame writer against an event-stream parser written here from the
 * WHATWG HTML standard ("Server-sent events", 9.2.6 "Interpreting an event
 * stream"): lines end at CRLF, LF or a lone CR; "name: value" loses one space
 * after the colon; data lines join with LF; a blank line dispatches. What
 * frame_event accepts must come back as exactly one event with the same
 * data (line breaks as LF), type, id and retry, written with known fields
 * and comments only and no bare CR; what it refuses must be exactly what
 * frame.h documents (CR, LF or NUL in type or id, retry not all digits),
 * leaving the buffer as it was.
 *
 * Input: byte 0 picks the function and which fields are present, bytes 1-3
 * are the lengths of type, id and retry; the rest is their bytes, then data.
 */
#include <string.h>

#include "frame.h"
#include "fuzz.h"

struct text {
    char *ptr;
    size_t len;
};

struct parsed {
    int events;            /* dispatched events */
    int dispatch_at_end;   /* the last line of the frame was the blank one */
    struct text type, data, id, retry, comments;
    int id_set, retry_set, comment_lines;
    struct text data_buf, type_buf; /* the parser's buffers */
};

static void put(struct text *t, const char *p, size_t n)
{
    memcpy(t->ptr + t->len, p, n);
    t->len += n;
}

static void set(struct text *t, const char *p, size_t n)
{
    t->len = 0;
    put(t, p, n);
}

static int name_is(const char *name, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(name, want, n) == 0;
}

static int only_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

static void dispatch(struct parsed *ps)
{
    if (ps->data_buf.len == 0) {
        ps->type_buf.len = 0;
        return;
    }
    ps->data_buf.len--; /* the data buffer always ends with the LF added per line */
    ps->events++;
    set(&ps->data, ps->data_buf.ptr, ps->data_buf.len);
    set(&ps->type, ps->type_buf.ptr, ps->type_buf.len);
    ps->data_buf.len = ps->type_buf.len = 0;
}

static void field(struct parsed *ps, const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    size_t name_n = colon ? (size_t)(colon - line) : n;
    const char *value = colon ? colon + 1 : line + n;
    size_t value_n = colon ? n - name_n - 1 : 0;
    if (value_n > 0 && value[0] == ' ') {
        value++;
        value_n--;
    }
    if (name_n == 0) { /* a comment */
        if (ps->comment_lines++ > 0)
            put(&ps->comments, "\n", 1);
        put(&ps->comments, value, value_n);
    } else if (name_is(line, name_n, "event")) {
        set(&ps->type_buf, value, value_n);
    } else if (name_is(line, name_n, "data")) {
        put(&ps->data_buf, value, value_n);
        put(&ps->data_buf, "\n", 1);
    } else if (name_is(line, name_n, "id")) {
        FUZZ_CHECK(memchr(value, '\0', value_n) == NULL, "an id line the browser would ignore");
        set(&ps->id, value, value_n);
        ps->id_set = 1;
    } else if (name_is(line, name_n, "retry")) {
        FUZZ_CHECK(value_n > 0 && only_digits(value, value_n), "a retry line the browser would ignore");
        set(&ps->retry, value, value_n);
        ps->retry_set = 1;
    } else {
        FUZZ_CHECK(0, "every line is a known field, a comment or blank");
    }
}

static void parse(struct parsed *ps, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && s[i] != '\r' && s[i] != '\n')
            i++;
        FUZZ_CHECK(i < n, "the frame ends with a line break");
        FUZZ_CHECK(s[i] == '\n' || (i + 1 < n && s[i + 1] == '\n'), "no bare CR");
        size_t len = i - start;
        i += s[i] == '\r' ? 2 : 1;
        if (len == 0)
            dispatch(ps);
        else
            field(ps, s + start, len);
        ps->dispatch_at_end = len == 0;
    }
}

static struct parsed *parsed_new(size_t room)
{
    struct parsed *ps = calloc(1, sizeof *ps);
    FUZZ_CHECK(ps != NULL, "harness memory");
    struct text *all[] = { &ps->type, &ps->data, &ps->id, &ps->retry, &ps->comments,
                           &ps->data_buf, &ps->type_buf };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        all[i]->ptr = malloc(room + 1);
        FUZZ_CHECK(all[i]->ptr != NULL, "harness memory");
    }
    return ps;
}

static void parsed_free(struct parsed *ps)
{
    struct text *all[] = { &ps->type, &ps->data, &ps->id, &ps->retry, &ps->comments,
                           &ps->data_buf, &ps->type_buf };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->ptr);
    free(ps);
}

static int same(const struct text *t, const char *p, size_t n)
{
    return t->len == n && memcmp(t->ptr, p, n) == 0;
}

/* Line breaks in data or a comment as the browser sees them: all LF. */
static size_t normalise_breaks(const char *s, size_t n, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
            continue;
        out[len++] = s[i] == '\r' ? '\n' : s[i];
    }
    return len;
}

static int has_break_or_nul(struct sse_str s)
{
    return memchr(s.ptr, '\r', s.len) || memchr(s.ptr, '\n', s.len) || memchr(s.ptr, '\0', s.len);
}

static enum frame_status expected_status(const struct sse_event *ev)
{
    if (ev->type.ptr && has_break_or_nul(ev->type))
        return FRAME_BAD_TYPE;
    if (ev->id.ptr && has_break_or_nul(ev->id))
        return FRAME_BAD_ID;
    if (ev->retry.ptr && (ev->retry.len == 0 || !only_digits(ev->retry.ptr, ev->retry.len)))
        return FRAME_BAD_RETRY;
    return FRAME_OK;
}

static void check_event(const struct parsed *ps, const struct sse_event *ev)
{
    FUZZ_CHECK(ps->events == 1 && ps->dispatch_at_end, "one event, dispatched by the last line");
    char *want = malloc(ev->data.len + 1);
    FUZZ_CHECK(want != NULL, "harness memory");
    size_t want_n = ev->data.ptr ? normalise_breaks(ev->data.ptr, ev->data.len, want) : 0;
    FUZZ_CHECK(same(&ps->data, want, want_n), "data round-trips");
    free(want);
    if (ev->type.ptr)
        FUZZ_CHECK(same(&ps->type, ev->type.ptr, ev->type.len), "type round-trips");
    else
        FUZZ_CHECK(ps->type.len == 0, "no type: a plain message");
    FUZZ_CHECK(ps->id_set == (ev->id.ptr != NULL), "an id line exactly when an id is given");
    FUZZ_CHECK(!ev->id.ptr || same(&ps->id, ev->id.ptr, ev->id.len), "id round-trips");
    FUZZ_CHECK(ps->retry_set == (ev->retry.ptr != NULL), "a retry line exactly when given");
    FUZZ_CHECK(!ev->retry.ptr || same(&ps->retry, ev->retry.ptr, ev->retry.len),
               "retry round-trips");
    FUZZ_CHECK(ps->comment_lines == 0, "an event has no comments");
}

/* Cuts the next n bytes (at most what is left) off the input. */
static struct sse_str take(const uint8_t **data, size_t *size, size_t n, int present)
{
    n = n < *size ? n : *size;
    struct sse_str s = { present ? (const char *)*data : NULL, present ? n : 0 };
    *data += n;
    *size -= n;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const uint8_t flags = data[0];
    const size_t type_n = data[1], id_n = data[2], retry_n = data[3];
    data += 4;
    size -= 4;

    /* Frames are appended: an earlier frame in the buffer must stay intact. */
    struct strbuf out = STRBUF_INIT;
    static const char earlier[] = "data: earlier\n\n";
    if (flags & 0x80)
        FUZZ_CHECK(strbuf_append(&out, earlier, sizeof earlier - 1) == 0, "harness memory");
    const size_t mark = out.len;

    enum frame_status st;
    struct sse_event ev = { SSE_NONE, SSE_NONE, SSE_NONE, SSE_NONE };
    unsigned long ms = 0;
    struct sse_str comment = SSE_NONE;
    switch (flags & 3) {
    case 0:
    case 1:
        ev.type = take(&data, &size, type_n, flags & 0x04);
        ev.id = take(&data, &size, id_n, flags & 0x08);
        ev.retry = take(&data, &size, retry_n, flags & 0x10);
        ev.data = take(&data, &size, size, flags & 0x20);
        st = frame_event(&out, &ev);
        FUZZ_CHECK(st == expected_status(&ev), "refused exactly what frame.h says");
        break;
    case 2:
        comment = take(&data, &size, size, flags & 0x20);
        st = frame_comment(&out, comment);
        FUZZ_CHECK(st == FRAME_OK, "any comment can be written");
        break;
    default:
        for (size_t i = 0; i < sizeof ms && i < size; i++)
            ms = ms << 8 | data[i];
        st = frame_retry(&out, ms);
        FUZZ_CHECK(st == FRAME_OK, "any retry can be written");
        break;
    }
    FUZZ_CHECK(mark == 0 || memcmp(out.ptr, earlier, mark) == 0, "earlier frames untouched");
    if (st != FRAME_OK) {
        FUZZ_CHECK(out.len == mark, "a refused frame appends nothing");
        strbuf_free(&out);
        return 0;
    }

    const char *frame = out.ptr + mark;
    size_t frame_n = out.len - mark;
    struct parsed *ps = parsed_new(frame_n);
    parse(ps, frame, frame_n);
    if ((flags & 3) < 2) {
        check_event(ps, &ev);
    } else if ((flags & 3) == 2) {
        char *want = malloc(comment.len + 1);
        FUZZ_CHECK(want != NULL, "harness memory");
        size_t want_n = comment.ptr ? normalise_breaks(comment.ptr, comment.len, want) : 0;
        FUZZ_CHECK(ps->events == 0 && !ps->id_set && !ps->retry_set, "a comment dispatches nothing");
        FUZZ_CHECK(same(&ps->comments, want, want_n), "comment text round-trips");
        free(want);
    } else {
        char digits[24];
        int n = snprintf(digits, sizeof digits, "%lu", ms);
        FUZZ_CHECK(ps->events == 0 && !ps->id_set && ps->retry_set, "a retry frame sets retry only");
        FUZZ_CHECK(same(&ps->retry, digits, (size_t)n), "retry round-trips");
    }
    parsed_free(ps);
    strbuf_free(&out);
    return 0;
}
