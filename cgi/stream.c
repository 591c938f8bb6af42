#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "broker.h"
#include "cors.h"
#include "delivery.h"
#include "form.h"
#include "log.h"
#include "monotime.h"
#include "response.h"
#include "topic_list.h"
#include "utf8.h"

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

/*
 * Headers plus a first frame that sets the browser's reconnection delay.
 * The delivery loop sends these bytes itself, not libfcgi, so the CORS lines
 * the router wrote into req->out for other answers are repeated here.
 */
static int stream_head(struct strbuf *sb, FCGX_Request *req, const struct app *app)
{
    const char *origin = FCGX_GetParam("HTTP_ORIGIN", req->envp);
    if (cors_response_headers(sb, app->cfg->cors_origins, origin) != 0 ||
        strbuf_append(sb, event_stream_head, sizeof event_stream_head - 1) != 0 ||
        frame_retry(sb, app->cfg->retry_ms) != FRAME_OK)
        return -1;
    return 0;
}

/* How long a resume may wait for this worker to catch up with the log. */
#define STREAM_RESUME_WAIT_MS 1500

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
static struct sse_str last_event_id(FCGX_Request *req, const struct form *query)
{
    const char *header = FCGX_GetParam("HTTP_LAST_EVENT_ID", req->envp);
    if (header)
        return SSE_CSTR(header);
    const struct form_field *f = form_get(query, "lastEventId", 0);
    return f ? (struct sse_str){ f->value, f->value_len } : SSE_NONE;
}

/*
 * Why id can never name an event, or NULL. Every id the hub hands out or
 * accepts is UTF-8 without NUL, CR or LF (a browser even ignores an id
 * field holding a NUL), and a browser sends back only what it got, so
 * anything else is a broken or hostile client asking to resume after an
 * event that cannot exist: it gets 400, not a gap event that would have to
 * echo its bytes. (Handed on as a C string, "12<NUL>3" would also be cut
 * short and resume after an event "12".)
 */
static const char *last_event_id_error(struct sse_str id)
{
    if (!id.ptr)
        return NULL;
    if (!utf8_valid(id.ptr, id.len))
        return "invalid Last-Event-ID: not UTF-8";
    if (memchr(id.ptr, '\0', id.len) || memchr(id.ptr, '\r', id.len) ||
        memchr(id.ptr, '\n', id.len))
        return "invalid Last-Event-ID: an event id never holds NUL, CR or LF";
    return NULL;
}

/*
 * One call opens the stream: the delivery side subscribes and takes the
 * connection, or refuses and keeps nothing. On success libfcgi frees the
 * request's buffers but leaves the connection open (FCGX_Free with close =
 * 0): nothing was written through it, the loop sends the head.
 */
static enum hub_status open_stream(FCGX_Request *req, const struct app *app,
                                   const struct form *query, const char *last_id,
                                   unsigned long no)
{
    size_t n;
    struct sse_str *topics = topic_list_from_form(query, STREAM_DEFAULT_TOPIC, &n);
    struct strbuf head = STRBUF_INIT;
    if (!topics || stream_head(&head, req, app) != 0) {
        free(topics);
        strbuf_free(&head);
        return HUB_NO_MEMORY;
    }
    struct delivery_request want = {
        .topics = topics, .ntopics = n, .last_event_id = last_id,
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
    struct sse_str last_id = last_event_id(req, query);
    const char *bad_id = last_event_id_error(last_id);
    if (bad_id) {
        log_info("stream %lu: 400 %s", no, bad_id);
        response_line(req->out, "400 Bad Request", NULL, bad_id);
        return 0;
    }
    /* With a shared log, the browser may come from a worker that is ahead
     * of this one (its own died): let this one catch up before it looks. */
    if (app->broker && last_id.ptr && !hub_has_id(app->hub, last_id.ptr, last_id.len))
        broker_catch_up(app->broker, STREAM_RESUME_WAIT_MS);
    enum hub_status st = open_stream(req, app, query, last_id.ptr, no);
    if (st != HUB_OK) {
        refuse(req, app, no, st);
        return 0;
    }
    return 1;
}

/*
 * Besides its topics a stream's query holds lastEventId and perhaps a
 * cache-buster some clients add; the rest is ignored, but a flood of it
 * would still cost the accept thread.
 */
#define QUERY_OTHER_FIELDS 8

/* Measured before parsing, so a huge query is refused cheaply: the reason, or NULL. */
static const char *query_too_big(const struct app *app, const char *qs)
{
    struct form_tally t = form_tally(qs, strlen(qs), "topic");
    if (t.named > app->cfg->max_topics)
        return hub_status_str(HUB_TOO_MANY_TOPICS);
    if (t.fields > app->cfg->max_topics + QUERY_OTHER_FIELDS)
        return "too many query fields";
    return NULL;
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
    const char *qs = FCGX_GetParam("QUERY_STRING", req->envp);
    struct form query = FORM_INIT;
    int handed_over = 0;
    const char *too_big = qs ? query_too_big(app, qs) : NULL;
    if (too_big) {
        log_info("stream %lu: 400 %s", no, too_big);
        response_line(req->out, "400 Bad Request", NULL, too_big);
    } else if (qs && form_parse(&query, qs, strlen(qs)) != FORM_OK) {
        response_line(req->out, "400 Bad Request", NULL, "malformed query string");
    } else if (access_check_subscribe(req, app->access, &query, STREAM_DEFAULT_TOPIC, no) == 0) {
        handed_over = serve_get(req, app, no, &query);
    }
    form_free(&query);
    return handed_over;
}
