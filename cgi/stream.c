#include "stream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "log.h"
#include "monotime.h"
#include "peer.h"
#include "response.h"

/* How often a quiet stream checks whether its client left (ms). */
#define PEER_CHECK_MS 1000

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

/* How the hub wakes this thread: a flag under a mutex, and a condition. */
struct waker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending;
};

struct stream {
    FCGX_Request *req;
    const struct app *app;
    unsigned long no;
    unsigned long frames;
    struct timespec last_write;
    struct hub_sub *sub;
    struct waker waker;
};

/* Runs in the publisher's thread, under the hub lock: flag and signal only. */
static void wake(void *ctx)
{
    struct waker *w = ctx;
    pthread_mutex_lock(&w->lock);
    if (!w->pending) {
        w->pending = 1;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
}

static int waker_init(struct waker *w)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Deadlines are monotonic so a clock step cannot stall or rush streams. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc == 0 && (rc = pthread_mutex_init(&w->lock, NULL)) != 0)
        pthread_cond_destroy(&w->cond);
    w->pending = 1; /* look at the hub once before the first sleep */
    return rc;
}

static void waker_destroy(struct waker *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

/* Sleeps until woken or the deadline passes. */
static void wait_for_wake(struct waker *w, const struct timespec *deadline)
{
    pthread_mutex_lock(&w->lock);
    while (!w->pending && pthread_cond_timedwait(&w->cond, &w->lock, deadline) == 0)
        ;
    w->pending = 0;
    pthread_mutex_unlock(&w->lock);
}

static int send_bytes(struct stream *s, const char *bytes, size_t len)
{
    if (response_send(s->req->out, bytes, len) != 0)
        return -1;
    s->last_write = monotime_now();
    s->frames++;
    return 0;
}

static int send_built(struct stream *s, struct strbuf *sb, enum frame_status st)
{
    int rc = st == FRAME_OK ? send_bytes(s, sb->ptr, sb->len) : -1;
    strbuf_free(sb);
    return rc;
}

static int send_comment(struct stream *s, const char *text)
{
    struct strbuf sb = STRBUF_INIT;
    return send_built(s, &sb, frame_comment(&sb, SSE_CSTR(text)));
}

/* Headers plus a first frame that sets the browser's reconnection delay. */
static int open_stream(struct stream *s)
{
    struct strbuf sb = STRBUF_INIT;
    enum frame_status st = FRAME_NO_MEMORY;
    if (strbuf_append(&sb, event_stream_head, sizeof event_stream_head - 1) == 0)
        st = frame_retry(&sb, s->app->cfg->retry_ms);
    return send_built(s, &sb, st);
}

/*
 * The heartbeat is due a fixed time after the last write, not after the last
 * wake-up: a stream woken often for nothing must still send one.
 */
static struct timespec next_deadline(const struct stream *s)
{
    struct timespec heartbeat = s->last_write;
    heartbeat.tv_sec += s->app->cfg->heartbeat_s;
    struct timespec check = monotime_in_ms(PEER_CHECK_MS);
    return monotime_before(&heartbeat, &check) ? heartbeat : check;
}

static int heartbeat_due(const struct stream *s)
{
    struct timespec due = s->last_write, now = monotime_now();
    due.tv_sec += s->app->cfg->heartbeat_s;
    return !monotime_before(&now, &due);
}

/* Sends every frame the hub has for us; returns why it stopped. */
static enum hub_next drain(struct stream *s, int *write_failed)
{
    struct hub_frame *frame;
    enum hub_next r;
    while ((r = hub_next(s->app->hub, s->sub, &frame)) == HUB_NEXT_FRAME) {
        int rc = send_bytes(s, frame->bytes, frame->len);
        hub_frame_release(frame);
        if (rc != 0) {
            *write_failed = 1;
            break;
        }
        atomic_fetch_add(&s->app->stats->delivered, 1);
    }
    return r;
}

/* Returns why the stream ended, for the log. */
static const char *pump(struct stream *s)
{
    for (;;) {
        int write_failed = 0;
        enum hub_next r = drain(s, &write_failed);
        if (write_failed)
            return "client gone (write failed)";
        if (r == HUB_NEXT_CLOSED) {
            send_comment(s, "server shutting down, reconnect after retry");
            return "shutdown";
        }
        if (r == HUB_NEXT_LAGGED) {
            send_comment(s, "too far behind: reconnect to resume from Last-Event-ID");
            return "fell behind the history";
        }
        if (peer_hung_up(s->req->ipcFd))
            return "client gone";
        if (heartbeat_due(s) && send_comment(s, "heartbeat") != 0)
            return "client gone (write failed)";
        struct timespec deadline = next_deadline(s);
        wait_for_wake(&s->waker, &deadline);
    }
}

/* Up to 5..15 s, so thousands of refused clients do not all return at once. */
static unsigned retry_after_seconds(unsigned long no)
{
    struct timespec t = monotime_now();
    unsigned long mix = (unsigned long)t.tv_nsec ^ (no * 2654435761UL);
    return 5 + (unsigned)(mix % 11);
}

static void refuse(struct stream *s, enum hub_status st)
{
    if (st == HUB_FULL || st == HUB_CLOSED || st == HUB_NO_MEMORY) {
        char header[40];
        snprintf(header, sizeof header, "Retry-After: %u\r\n", retry_after_seconds(s->no));
        if (st == HUB_FULL)
            atomic_fetch_add(&s->app->stats->streams_rejected, 1);
        log_warn("stream %lu: 503 %s", s->no, hub_status_str(st));
        response_line(s->req->out, "503 Service Unavailable", header, hub_status_str(st));
        return;
    }
    log_info("stream %lu: 400 %s", s->no, hub_status_str(st));
    response_line(s->req->out, "400 Bad Request", NULL, hub_status_str(st));
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

static enum hub_status subscribe(struct stream *s, const struct form *query)
{
    size_t n = form_count(query, "topic");
    struct sse_str *topics = calloc(n ? n : 1, sizeof *topics);
    if (!topics)
        return HUB_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        const struct form_field *f = form_get(query, "topic", i);
        topics[i] = (struct sse_str){ f->value, f->value_len };
    }
    if (n == 0)
        topics[n++] = SSE_STR(STREAM_DEFAULT_TOPIC);
    struct hub_subscription req = {
        .topics = topics, .ntopics = n, .last_event_id = last_event_id(s->req, query),
        .wake = wake, .wake_ctx = &s->waker,
    };
    enum hub_status st = hub_subscribe(s->app->hub, &req, &s->sub);
    free(topics);
    return st;
}

static void serve_subscribed(struct stream *s)
{
    const char *addr = FCGX_GetParam("REMOTE_ADDR", s->req->envp);
    const char *query = FCGX_GetParam("QUERY_STRING", s->req->envp);
    atomic_fetch_add(&s->app->stats->streams_total, 1);
    log_info("stream %lu open from %s, query '%.200s', %zu connected", s->no,
             addr ? addr : "?", query ? query : "", hub_subscribers(s->app->hub));
    const char *why = open_stream(s) == 0 ? pump(s) : "client gone (write failed)";
    hub_unsubscribe(s->app->hub, s->sub);
    log_info("stream %lu closed: %s, %lu frames sent, %zu connected", s->no, why, s->frames,
             hub_subscribers(s->app->hub));
}

void stream_serve(FCGX_Request *req, const struct app *app, unsigned long no)
{
    struct stream s = { .req = req, .app = app, .no = no };
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    if (!method || strcmp(method, "GET") != 0) {
        log_info("request %lu: 405 for %s /events", no, method ? method : "?");
        response_line(req->out, "405 Method Not Allowed", "Allow: GET\r\n",
                      "method not allowed: /events only answers GET");
        return;
    }
    const char *qs = FCGX_GetParam("QUERY_STRING", req->envp);
    struct form query = FORM_INIT;
    if (qs && form_parse(&query, qs, strlen(qs)) != FORM_OK) {
        response_line(req->out, "400 Bad Request", NULL, "malformed query string");
        return;
    }
    if (waker_init(&s.waker) != 0) {
        refuse(&s, HUB_NO_MEMORY);
    } else {
        enum hub_status st = subscribe(&s, &query);
        if (st == HUB_OK)
            serve_subscribed(&s);
        else
            refuse(&s, st);
        waker_destroy(&s.waker);
    }
    form_free(&query);
}
