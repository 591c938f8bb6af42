/*
 * Unit tests for cgi/delivery.c: real loops, a socketpair() for each stream.
 * The test holds the "nginx" end and reads back the FastCGI records the
 * loop writes: the head, events, heartbeats, the goodbye and the end.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fastcgi.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "delivery.h"
#include "log.h"
#include "tap.h"

static const char head[] = "Content-Type: text/event-stream\r\n\r\nretry: 3000\n\n";

/* The "nginx" side of one stream: what its records carried so far. */
struct peer {
    int fd;
    struct strbuf raw;     /* bytes read, not yet a whole record */
    struct strbuf stdout_; /* FCGI_STDOUT contents, in order */
    int stdout_ended;      /* an empty FCGI_STDOUT record came */
    int end_request;       /* FCGI_END_REQUEST came */
    int bad;               /* a record for another request id, or an unknown type */
};

static void parse_records(struct peer *p)
{
    size_t off = 0;
    while (p->raw.len - off >= sizeof(FCGI_Header)) {
        const unsigned char *h = (const unsigned char *)p->raw.ptr + off;
        size_t len = (size_t)h[4] << 8 | h[5], pad = h[6];
        if (p->raw.len - off < sizeof(FCGI_Header) + len + pad)
            break;
        int request_id = h[2] << 8 | h[3];
        if (request_id != 1)
            p->bad = 1;
        if (h[1] == FCGI_STDOUT && len == 0)
            p->stdout_ended = 1;
        else if (h[1] == FCGI_STDOUT)
            strbuf_append(&p->stdout_, (const char *)h + sizeof(FCGI_Header), len);
        else if (h[1] == FCGI_END_REQUEST)
            p->end_request = 1;
        else
            p->bad = 1;
        off += sizeof(FCGI_Header) + len + pad;
    }
    memmove(p->raw.ptr, p->raw.ptr + off, p->raw.len - off);
    p->raw.len -= off;
}

/* Reads for at most ms milliseconds, until the stream's text holds want
 * (or, with want NULL, until the request ends). Returns 1 if it did. */
static int read_until(struct peer *p, const char *want, int ms)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (want ? p->stdout_.len && memmem(p->stdout_.ptr, p->stdout_.len, want, strlen(want))
                 : p->end_request)
            return 1;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int left = ms - (int)((now.tv_sec - start.tv_sec) * 1000 +
                              (now.tv_nsec - start.tv_nsec) / 1000000);
        struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return 0;
        char buf[4096];
        ssize_t n = read(p->fd, buf, sizeof buf);
        if (n <= 0)
            return 0;
        strbuf_append(&p->raw, buf, (size_t)n);
        parse_records(p);
    }
}

static void peer_free(struct peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    strbuf_free(&p->raw);
    strbuf_free(&p->stdout_);
}

/* Opens a stream on topic through delivery_open(); p gets the other end. */
static enum hub_status open_on(struct delivery *d, const char *topic, struct peer *p)
{
    int sv[2];
    memset(p, 0, sizeof *p);
    p->fd = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return HUB_UNAVAILABLE;
    struct sse_str t = SSE_CSTR(topic);
    struct delivery_request req = { .topics = &t, .ntopics = 1, .fd = sv[0], .request_id = 1,
                                    .head = head, .head_len = sizeof head - 1, .no = 1 };
    enum hub_status st = delivery_open(d, &req);
    if (st != HUB_OK)
        close(sv[0]);
    p->fd = sv[1];
    return st;
}

static enum hub_status publish(struct hub *hub, const char *topic, const char *data)
{
    struct sse_str t = SSE_CSTR(topic);
    struct hub_message msg = { .topics = &t, .ntopics = 1, .event = { .data = SSE_CSTR(data) } };
    return hub_publish(hub, &msg, NULL, NULL);
}

/* Bounded polling for a condition the loops bring about. */
static int eventually(int (*cond)(void *), void *arg)
{
    for (int i = 0; i < 500; i++) {
        if (cond(arg))
            return 1;
        struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
        nanosleep(&ten_ms, NULL);
    }
    return 0;
}

static int no_streams(void *d)
{
    return delivery_open_streams(d) == 0;
}

static struct hub *new_hub(unsigned readers)
{
    struct hub_limits limits = { .history = 16, .max_subscribers = 8, .max_topics = 4,
                                 .history_bytes = 1 << 20, .readers = readers,
                                 .publish_wait_ms = 1000 };
    return hub_new(&limits);
}

static void one_stream(void)
{
    struct stats stats;
    stats_init(&stats);
    struct hub *hub = new_hub(1);
    struct delivery *d = delivery_start(hub, &stats, 1, 1);
    struct peer p;
    tap_ok(open_on(d, "a", &p) == HUB_OK, "delivery_open takes a connection");
    tap_ok(read_until(&p, "retry: 3000\n\n", 5000) &&
           strncmp(p.stdout_.ptr, head, sizeof head - 1) == 0,
           "the loop sends the head first, as FCGI_STDOUT records");
    publish(hub, "b", "not for a");
    publish(hub, "a", "hello");
    tap_ok(read_until(&p, "data: hello\n\n", 5000), "a published event arrives as a frame");
    tap_ok(!memmem(p.stdout_.ptr, p.stdout_.len, "not for a", 9), "and only its topic's");
    tap_ok(read_until(&p, ": heartbeat\n\n", 5000), "a quiet stream gets heartbeats");
    tap_ok(!p.bad && !p.end_request, "every record is for its request, and it stays open");
    close(p.fd);
    p.fd = -1;
    tap_ok(eventually(no_streams, d), "a hang-up ends the stream");
    struct hub_totals t;
    hub_report(hub, &t, NULL, NULL);
    tap_ok(t.subscribers == 0 && atomic_load(&stats.delivered) == 1,
           "and unsubscribes it; one frame counted as delivered");
    hub_close(hub);
    delivery_stop(d, 1000);
    hub_free(hub);
    peer_free(&p);
}

static void shutdown_says_goodbye(void)
{
    struct stats stats;
    stats_init(&stats);
    struct hub *hub = new_hub(2);
    struct delivery *d = delivery_start(hub, &stats, 15, 2);
    struct peer p[2];
    open_on(d, "a", &p[0]);
    open_on(d, "a", &p[1]);
    read_until(&p[0], "retry: 3000\n\n", 5000);
    read_until(&p[1], "retry: 3000\n\n", 5000);
    hub_close(hub);
    delivery_stop(d, 1000);
    for (int i = 0; i < 2; i++) {
        tap_ok(read_until(&p[i], NULL, 5000) && p[i].stdout_ended && !p[i].bad &&
                   memmem(p[i].stdout_.ptr, p[i].stdout_.len,
                          ": server shutting down, reconnect after retry\n\n", 47),
               i == 0 ? "on shutdown a stream gets the goodbye, then the end of the request"
                      : "so does one on the other loop");
        peer_free(&p[i]);
    }
    hub_free(hub);
}

static void spread_over_loops(void)
{
    struct stats stats;
    stats_init(&stats);
    struct hub *hub = new_hub(3);
    struct delivery *d = delivery_start(hub, &stats, 15, 3);
    struct peer p[6];
    for (int i = 0; i < 6; i++)
        open_on(d, "a", &p[i]);
    struct hub_totals t;
    hub_report(hub, &t, NULL, NULL);
    tap_ok(t.readers == 3 && t.reader[0].subscribers == 2 && t.reader[1].subscribers == 2 &&
           t.reader[2].subscribers == 2, "new streams go to the least loaded of 3 loops");
    for (int i = 0; i < 20; i++) {
        char data[16];
        snprintf(data, sizeof data, "e%d", i);
        publish(hub, "a", data);
    }
    int all = 1;
    for (int i = 0; i < 6; i++) {
        all &= read_until(&p[i], "data: e19\n\n", 5000);
        /* In order, each once: e0 .. e19 follow each other exactly. */
        struct strbuf want = STRBUF_INIT;
        for (int k = 0; k < 20; k++)
            strbuf_printf(&want, "data: e%d\n\n", k);
        const char *first = memmem(p[i].stdout_.ptr, p[i].stdout_.len, "data: e0\n", 9);
        all &= first != NULL;
        if (first) {
            const char *from = first - 4; /* back over "id: " ... the line before */
            while (from > p[i].stdout_.ptr && from[-1] != '\n')
                from--;
            /* Strip the id lines, keep the data lines. */
            struct strbuf data = STRBUF_INIT;
            for (const char *c = from; c < p[i].stdout_.ptr + p[i].stdout_.len;) {
                const char *nl = memchr(c, '\n', (size_t)(p[i].stdout_.ptr + p[i].stdout_.len - c));
                if (!nl)
                    break;
                if (strncmp(c, "id: ", 4) != 0)
                    strbuf_append(&data, c, (size_t)(nl - c + 1));
                c = nl + 1;
            }
            all &= data.len == want.len && memcmp(data.ptr, want.ptr, want.len) == 0;
            strbuf_free(&data);
        }
        strbuf_free(&want);
    }
    tap_ok(all, "every stream on every loop gets every event exactly once, in order");
    hub_close(hub);
    delivery_stop(d, 1000);
    for (int i = 0; i < 6; i++)
        peer_free(&p[i]);
    hub_free(hub);
}

/* Anything that fails on the way leaves nothing behind. */
static void refusals(void)
{
    struct stats stats;
    stats_init(&stats);
    struct hub *hub = new_hub(1);
    struct delivery *d = delivery_start(hub, &stats, 15, 1);
    /* epoll refuses regular files (EPERM): the add fails after subscribing. */
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int flags = fcntl(fd, F_GETFL);
    struct sse_str t = SSE_STR("a");
    struct delivery_request req = { .topics = &t, .ntopics = 1, .fd = fd, .request_id = 1,
                                    .head = head, .head_len = sizeof head - 1, .no = 7 };
    tap_ok(delivery_open(d, &req) == HUB_UNAVAILABLE,
           "a connection epoll cannot watch is refused (HUB_UNAVAILABLE: 503)");
    struct hub_totals tot;
    hub_report(hub, &tot, NULL, NULL);
    tap_ok(tot.subscribers == 0 && delivery_open_streams(d) == 0 && fcntl(fd, F_GETFL) == flags,
           "and nothing is left: no subscriber, no stream, the fd as it was");
    close(fd);
    struct sse_str bad = SSE_STR("a b");
    req.topics = &bad;
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    req.fd = sv[0];
    tap_ok(delivery_open(d, &req) == HUB_BAD_TOPIC && delivery_open_streams(d) == 0,
           "a bad topic is the hub's refusal, passed on, with nothing kept");
    close(sv[0]);
    close(sv[1]);
    hub_close(hub);
    struct peer p;
    tap_ok(open_on(d, "a", &p) == HUB_CLOSED, "a closed hub refuses new streams");
    peer_free(&p);
    delivery_stop(d, 1000);
    hub_free(hub);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the worker does: a write to a gone peer says EPIPE */
    log_set_level(LOG_ERROR);
    one_stream();
    shutdown_says_goodbye();
    spread_over_loops();
    refusals();
    return tap_done();
}
