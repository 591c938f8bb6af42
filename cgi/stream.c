#include "stream.h"

#include <string.h>

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

struct stream {
    FCGX_Request *req;
    struct hub *hub;
    const struct config *cfg;
    unsigned long no;
    unsigned long frames;
    struct timespec last_write;
};

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
        st = frame_retry(&sb, s->cfg->retry_ms);
    return send_built(s, &sb, st);
}

/*
 * The heartbeat is due a fixed time after the last write, not after the last
 * wake-up: a stream woken often by events for others must still send one.
 */
static struct timespec next_deadline(const struct stream *s)
{
    struct timespec heartbeat = s->last_write;
    heartbeat.tv_sec += s->cfg->heartbeat_s;
    struct timespec check = monotime_in_ms(PEER_CHECK_MS);
    return monotime_before(&heartbeat, &check) ? heartbeat : check;
}

static int heartbeat_due(const struct stream *s)
{
    struct timespec due = s->last_write, now = monotime_now();
    due.tv_sec += s->cfg->heartbeat_s;
    return !monotime_before(&now, &due);
}

/* Returns why the stream ended, for the log. */
static const char *pump(struct stream *s)
{
    uint64_t cursor = hub_last_id(s->hub);
    for (;;) {
        struct timespec deadline = next_deadline(s);
        struct hub_frame *frame = NULL;
        enum hub_wait_result r = hub_wait(s->hub, &cursor, &deadline, &frame);
        if (r == HUB_CLOSED) {
            send_comment(s, "server shutting down, reconnect after retry");
            return "shutdown";
        }
        if (r == HUB_FRAME) {
            int rc = send_bytes(s, frame->bytes, frame->len);
            hub_frame_release(frame);
            if (rc != 0)
                return "client gone (write failed)";
        }
        if (peer_hung_up(s->req->ipcFd))
            return "client gone";
        if (heartbeat_due(s) && send_comment(s, "heartbeat") != 0)
            return "client gone (write failed)";
    }
}

static void serve_events(struct stream *s)
{
    const char *addr = FCGX_GetParam("REMOTE_ADDR", s->req->envp);
    size_t clients = hub_subscribe(s->hub);
    log_info("stream %lu open from %s, %zu connected", s->no, addr ? addr : "?", clients);
    const char *why = open_stream(s) == 0 ? pump(s) : "client gone (write failed)";
    clients = hub_unsubscribe(s->hub);
    log_info("stream %lu closed: %s, %lu frames sent, %zu connected",
             s->no, why, s->frames, clients);
}

/* nginx sends DOCUMENT_URI (the path, no query); plain CGI clients may not. */
static int path_is(FCGX_Request *req, const char *want)
{
    const char *p = FCGX_GetParam("DOCUMENT_URI", req->envp);
    if (!p)
        p = FCGX_GetParam("SCRIPT_NAME", req->envp);
    if (p)
        return strcmp(p, want) == 0;
    p = FCGX_GetParam("REQUEST_URI", req->envp);
    size_t n = strlen(want);
    return p && strncmp(p, want, n) == 0 && (p[n] == '\0' || p[n] == '?');
}

void stream_serve(FCGX_Request *req, struct hub *hub, const struct config *cfg,
                  unsigned long stream_no)
{
    struct stream s = { .req = req, .hub = hub, .cfg = cfg, .no = stream_no };
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    if (!path_is(req, "/events")) {
        const char *uri = FCGX_GetParam("REQUEST_URI", req->envp);
        log_info("request %lu: 404 for %s", stream_no, uri ? uri : "(no REQUEST_URI)");
        response_error(req->out, "404 Not Found", NULL, "not found: this worker serves /events");
        return;
    }
    if (!method || strcmp(method, "GET") != 0) {
        log_info("request %lu: 405 for %s /events", stream_no, method ? method : "?");
        response_error(req->out, "405 Method Not Allowed", "Allow: GET\r\n",
                       "method not allowed: /events only answers GET");
        return;
    }
    serve_events(&s);
}
