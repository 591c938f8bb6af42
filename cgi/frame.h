/*
 * frame: writes text/event-stream frames byte for byte as the WHATWG HTML
 * standard ("Server-sent events", 9.2) says a browser parses them.
 *
 * Every function validates first and appends nothing on error, so a refused
 * field can never leave half a frame in the buffer.
 */
#ifndef SSE_FRAME_H
#define SSE_FRAME_H

#include <stddef.h>
#include <string.h>

#include "strbuf.h"

/* A byte string with its length: published data may hold any byte. */
struct sse_str {
    const char *ptr; /* NULL means "field absent" */
    size_t len;
};

#define SSE_STR(s) ((struct sse_str){ (s), sizeof(s) - 1 })
#define SSE_CSTR(s) ((struct sse_str){ (s), (s) ? strlen(s) : 0 })
#define SSE_NONE ((struct sse_str){ NULL, 0 })

struct sse_event {
    struct sse_str type;  /* "event:"; absent or empty: the browser's "message" */
    struct sse_str id;    /* "id:"; present but empty resets Last-Event-ID */
    struct sse_str retry; /* "retry:"; ASCII digits only */
    struct sse_str data;  /* "data:"; always written, one line per line */
};

enum frame_status {
    FRAME_OK = 0,
    FRAME_BAD_TYPE,  /* event name contains CR, LF or NUL */
    FRAME_BAD_ID,    /* id contains CR, LF or NUL */
    FRAME_BAD_RETRY, /* retry is empty or not all ASCII digits */
    FRAME_NO_MEMORY,
};

/* One whole event: optional event/id/retry lines, data lines, blank line. */
enum frame_status frame_event(struct strbuf *out, const struct sse_event *ev);

/* A frame holding only "retry: <ms>": it dispatches no event. */
enum frame_status frame_retry(struct strbuf *out, unsigned long ms);

/* Comment lines (": text"), ignored by browsers; heartbeats use them. */
enum frame_status frame_comment(struct strbuf *out, struct sse_str text);

/* A short English reason for a status, for logs and 4xx bodies. */
const char *frame_status_str(enum frame_status st);

#endif
