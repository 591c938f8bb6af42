#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "form.h"
#include "log.h"
#include "monotime.h"
#include "response.h"

/*
 * The response head. nginx turns these CGI-style lines into the HTTP
 * response. It consumes X-Accel-Buffering (so the stream is passed through
 * unbuffered even where fastcgi_buffering is on) and replaces Connection with
 * its own; the seed's three headers are still written for any other gateway.
 */
static const char event_stream_head[] =
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\n"
    "Connection: keep-alive\r\n"
    "X-Accel-Buffering: no\r\n"
    "\r\n";

/* Headers plus a first frame that sets the browser's reconnection delay. */
static int stream_head(struct strbuf *sb, unsigned long retry_ms)
{
    if (strbuf_append(sb, event_stream_head, sizeof event_stream_head - 1) != 0 ||
        frame_retry(sb, retry_ms) != FRAME_OK)
        return -1;
    return 0;
}

/* Up to 5..15 s, so thousands of refused clients do not all return at once. */
static unsigned retry_after_seconds(unsigned long no)
{
    struct timespec t = monotime_now();
    unsigned long mix = (unsigned long)t.tv_nsec ^ (no * 2654435761UL);
    return 5 + (unsigned)(mix % 11);
}

static void refuse(FCGX_Request *req, const struct app *app, unsigned long no,
                   enum hub_status st)
{
    if (st == HUB_FULL || st == HUB_CLOSED || st == HUB_NO_MEMORY || st == HUB_UNAVAILABLE) {
        char header[40];
        snprintf(header, sizeof header, "Retry-After: %u\r\n", retry_after_seconds(no));
        if (st == HUB_FULL)
            atomic_fetch_add(&app->stats->streams_rejected, 1);
        log_warn("stream %lu: 503 %s", no, hub_status_str(st));
        response_line(req->out, "503 Service Unavailable", header, hub_status_str(st));
        return;
    }
    log_info("stream %lu: 400 %s", no, hub_status_str(st));
    response_line(req->out, "400 Bad Request", NULL, hub_status_str(st));
}

/* The header wins over the query: a browser sets it on its own reconnects. */
static const char *last_event_id(FCGX_Request *req, const struct form *query)
{
    const char *header = FCGX_GetParam("HTTP_LAST_EVENT_ID", req->envp);
    if (header)
        return header;
    const struct form_field *f = form_get(query, "lastEventId", 0);
    return f && strlen(f->value) == f->value_len ? f->value : NULL;
}

/*
 * One call opens the stream: the delivery side subscribes and takes the
 * connection, or refuses and keeps nothing. On success libfcgi frees the
 * request's buffers but leaves the connection open (FCGX_Free with close =
 * 0): nothing was written through it, the loop sends the head.
 */
static enum hub_status open_stream(FCGX_Request *req, const struct app *app,
                                   const struct form *query, unsigned long no)
{
    size_t n = form_count(query, "topic");
    struct sse_str *topics = calloc(n ? n : 1, sizeof *topics);
    struct strbuf head = STRBUF_INIT;
    if (!topics || stream_head(&head, app->cfg->retry_ms) != 0) {
        free(topics);
        strbuf_free(&head);
        return HUB_NO_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        const struct form_field *f = form_get(query, "topic", i);
        topics[i] = (struct sse_str){ f->value, f->value_len };
    }
    if (n == 0)
        topics[n++] = SSE_STR(STREAM_DEFAULT_TOPIC);
    struct delivery_request want = {
        .topics = topics, .ntopics = n, .last_event_id = last_event_id(req, query),
        .fd = req->ipcFd, .request_id = req->requestId, .head = head.ptr, .head_len = head.len,
        .no = no,
    };
    enum hub_status st = delivery_open(app->delivery, &want);
    free(topics);
    strbuf_free(&head);
    if (st == HUB_OK) {
        const char *addr = FCGX_GetParam("REMOTE_ADDR", req->envp);
        const char *qs = FCGX_GetParam("QUERY_STRING", req->envp);
        atomic_fetch_add(&app->stats->streams_total, 1);
        log_info("stream %lu open from %s, query '%.200s', %zu connected", no,
                 addr ? addr : "?", qs ? qs : "", hub_subscribers(app->hub));
        FCGX_Free(req, 0);
    }
    return st;
}

static int serve_get(FCGX_Request *req, const struct app *app, unsigned long no,
                     const struct form *query)
{
    enum hub_status st = open_stream(req, app, query, no);
    if (st != HUB_OK) {
        refuse(req, app, no, st);
        return 0;
    }
    return 1;
}

int stream_serve(FCGX_Request *req, const struct app *app, unsigned long no)
{
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    if (method && strcmp(method, "HEAD") == 0) {
        /* The head a GET would get, and no stream: HTTP wants HEAD wherever
         * GET works, and a HEAD response has no body to keep open. */
        response_send(req->out, event_stream_head, sizeof event_stream_head - 1);
        return 0;
    }
    if (!method || strcmp(method, "GET") != 0) {
        log_info("request %lu: 405 for %s /events", no, method ? method : "?");
        response_line(req->out, "405 Method Not Allowed", "Allow: GET, HEAD\r\n",
                      "method not allowed: /events only answers GET and HEAD");
        return 0;
    }
    const char *qs = FCGX_GetParam("QUERY_STRING", req->envp);
    struct form query = FORM_INIT;
    int handed_over = 0;
    if (qs && form_parse(&query, qs, strlen(qs)) != FORM_OK)
        response_line(req->out, "400 Bad Request", NULL, "malformed query string");
    else
        handed_over = serve_get(req, app, no, &query);
    form_free(&query);
    return handed_over;
}
