#define _GNU_SOURCE /* EPOLLRDHUP, eventfd */
#include "delivery.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fcgi_record.h"
#include "log.h"
#include "monotime.h"

struct delivery_stream {
    struct delivery *d;
    unsigned long no;
    /* Under d->ready_lock: the hub's wake-ups cross threads here. */
    int adopted, closed, queued;
    struct delivery_stream *next_ready;
    /* The rest belongs to the loop thread once adopted. */
    int fd;
    int request_id;
    struct hub_sub *sub;
    struct strbuf pending;        /* FastCGI bytes the socket did not take yet */
    size_t pending_off;
    int want_out;                 /* EPOLLOUT registered */
    struct timespec last_write;
    int listed;                   /* on the open list */
    struct delivery_stream *prev, *next; /* the open list, oldest write first */
    unsigned long frames;
};

struct delivery {
    struct hub *hub;
    struct stats *stats;
    unsigned heartbeat_s;
    int epfd;
    int wakefd;                   /* eventfd: "the ready list has streams" */
    pthread_t thread;
    pthread_mutex_t ready_lock;
    struct delivery_stream *ready_head, *ready_tail;
    int stopping;                 /* under ready_lock */
    struct timespec stop_deadline;
    /* Loop thread only. */
    struct delivery_stream *oldest, *newest; /* open streams by last write */
    struct delivery_stream *graveyard;       /* closed, freed once unqueued */
    _Atomic size_t open;
};

/* ---- the open list: streams ordered by their last write (heartbeats) ---- */

static void list_remove(struct delivery *d, struct delivery_stream *s)
{
    if (!s->listed)
        return;
    if (s->prev) s->prev->next = s->next; else d->oldest = s->next;
    if (s->next) s->next->prev = s->prev; else d->newest = s->prev;
    s->prev = s->next = NULL;
    s->listed = 0;
}

static void list_append(struct delivery *d, struct delivery_stream *s)
{
    s->prev = d->newest;
    s->next = NULL;
    if (d->newest) d->newest->next = s; else d->oldest = s;
    d->newest = s;
    s->listed = 1;
}

static void touched(struct delivery *d, struct delivery_stream *s)
{
    s->last_write = monotime_now();
    list_remove(d, s);
    list_append(d, s);
}

/* ---- writing ---- */

static void want_writable(struct delivery_stream *s, int on)
{
    if (s->want_out == on)
        return;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
                              .data.ptr = s };
    epoll_ctl(s->d->epfd, EPOLL_CTL_MOD, s->fd, &ev);
    s->want_out = on;
}

/* Writes what is pending; returns -1 when the connection is gone. */
static int flush_pending(struct delivery_stream *s)
{
    while (s->pending_off < s->pending.len) {
        ssize_t n = write(s->fd, s->pending.ptr + s->pending_off,
                          s->pending.len - s->pending_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            want_writable(s, 1);
            return 0;
        }
        if (n <= 0)
            return -1;
        s->pending_off += (size_t)n;
    }
    strbuf_free(&s->pending); /* an idle stream keeps no buffer */
    s->pending_off = 0;
    want_writable(s, 0);
    return 0;
}

/*
 * Writes iov straight to the socket when nothing is queued (the usual case:
 * no copy), and queues whatever the socket does not take.
 */
static int send_iov(struct delivery_stream *s, const struct iovec *iov, int n)
{
    size_t skip = 0;
    if (s->pending.len == 0) {
        ssize_t w;
        do
            w = writev(s->fd, iov, n);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        skip = w > 0 ? (size_t)w : 0;
    }
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len;
        size_t from = skip < len ? skip : len;
        skip -= from;
        if (from < len && strbuf_append(&s->pending, (const char *)iov[i].iov_base + from,
                                        len - from) != 0)
            return -1;
    }
    touched(s->d, s);
    return s->pending.len > s->pending_off ? flush_pending(s) : 0;
}

/* Sends stream bytes (an SSE frame) wrapped in FCGI_STDOUT records. */
static int send_frame(struct delivery_stream *s, const char *bytes, size_t len)
{
    if (len <= FCGI_RECORD_MAX_CONTENT) {
        FCGI_Header h = fcgi_stdout_header(s->request_id, len);
        struct iovec iov[2] = { { &h, sizeof h }, { (void *)bytes, len } };
        return send_iov(s, iov, 2);
    }
    struct strbuf records = STRBUF_INIT; /* rare: frames over 64 KiB */
    int rc = fcgi_append_stdout(&records, s->request_id, bytes, len);
    struct iovec iov = { records.ptr, records.len };
    rc = rc == 0 ? send_iov(s, &iov, 1) : -1;
    strbuf_free(&records);
    return rc;
}

static int send_comment(struct delivery_stream *s, const char *text)
{
    struct strbuf sb = STRBUF_INIT;
    int rc = frame_comment(&sb, SSE_CSTR(text)) == FRAME_OK ? send_frame(s, sb.ptr, sb.len) : -1;
    strbuf_free(&sb);
    return rc;
}

/* ---- ending a stream ---- */

/*
 * Says goodbye (if given), ends the FastCGI request so nginx closes the HTTP
 * response properly, and releases everything. The record itself is freed
 * later, once no wake-up can still point at it.
 */
static void finish(struct delivery_stream *s, const char *why, const char *goodbye)
{
    struct delivery *d = s->d;
    if (goodbye)
        send_comment(s, goodbye);
    struct strbuf end = STRBUF_INIT;
    if (fcgi_append_end(&end, s->request_id) == 0) {
        struct iovec iov = { end.ptr, end.len };
        send_iov(s, &iov, 1);
    }
    strbuf_free(&end);
    hub_unsubscribe(d->hub, s->sub); /* after this the hub never wakes s */
    pthread_mutex_lock(&d->ready_lock);
    s->closed = 1;
    pthread_mutex_unlock(&d->ready_lock);
    close(s->fd);
    list_remove(d, s);
    strbuf_free(&s->pending);
    size_t left = atomic_fetch_sub(&d->open, 1) - 1;
    log_info("stream %lu closed: %s, %lu frames sent, %zu connected", s->no, why, s->frames,
             left);
    s->next = d->graveyard;
    d->graveyard = s;
}

/* ---- pulling frames from the hub ---- */

static void pump(struct delivery_stream *s, int stopping)
{
    if (s->pending.len > 0) {
        /* Backpressure: take nothing more until the socket drains. Past
         * the history the hub will say LAGGED and the stream ends. */
        if (stopping)
            finish(s, "shutdown (client too slow for a goodbye)", NULL);
        return;
    }
    struct hub_frame *frame;
    enum hub_next r;
    while ((r = hub_next(s->d->hub, s->sub, &frame)) == HUB_NEXT_FRAME) {
        int rc = send_frame(s, frame->bytes, frame->len);
        hub_frame_release(frame);
        if (rc != 0) {
            finish(s, "client gone (write failed)", NULL);
            return;
        }
        s->frames++;
        atomic_fetch_add(&s->d->stats->delivered, 1);
        if (s->pending.len > 0)
            return;
    }
    if (r == HUB_NEXT_CLOSED)
        finish(s, "shutdown", "server shutting down, reconnect after retry");
    else if (r == HUB_NEXT_LAGGED)
        finish(s, "fell behind the history",
               "too far behind: reconnect to resume from Last-Event-ID");
}

/*
 * Takes the queued streams off the ready list and pumps each. A stream stays
 * marked queued until it is taken off the batch, under the lock: while it is
 * marked, delivery_wake() leaves its next_ready alone, so a publish in
 * another thread can never cut the batch short (a wake-up lost that way
 * would leave a stream on a quiet topic waiting for its next event). Once
 * unmarked it may be queued again on the fresh list, and is pumped again.
 */
static void run_ready(struct delivery *d)
{
    pthread_mutex_lock(&d->ready_lock);
    struct delivery_stream *batch = d->ready_head;
    d->ready_head = d->ready_tail = NULL;
    int stopping = d->stopping;
    pthread_mutex_unlock(&d->ready_lock);
    while (batch) {
        struct delivery_stream *s = batch;
        pthread_mutex_lock(&d->ready_lock);
        batch = s->next_ready;
        s->queued = 0;
        pthread_mutex_unlock(&d->ready_lock);
        if (s->closed) /* only this thread sets closed: no lock needed to read */
            continue;
        if (!s->listed) /* newly adopted: heartbeats count from its head */
            list_append(d, s);
        pump(s, stopping);
    }
}

/* Frees closed records that no ready list can reach any more. */
static void reap(struct delivery *d)
{
    struct delivery_stream **link = &d->graveyard;
    pthread_mutex_lock(&d->ready_lock);
    while (*link) {
        struct delivery_stream *s = *link;
        if (s->queued) {
            link = &s->next;
            continue;
        }
        *link = s->next;
        free(s);
    }
    pthread_mutex_unlock(&d->ready_lock);
}

/* ---- the loop ---- */

static void on_socket(struct delivery_stream *s, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        /* nginx sends nothing after the request but the end of stdin: any
         * readable event is that (discarded) or the connection closing. */
        char scratch[4096];
        ssize_t n;
        while ((n = read(s->fd, scratch, sizeof scratch)) > 0)
            ;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
            (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
            finish(s, "client gone", NULL);
            return;
        }
    }
    if (events & EPOLLOUT) {
        if (flush_pending(s) != 0)
            finish(s, "client gone (write failed)", NULL);
        else if (s->pending.len == 0)
            pump(s, 0); /* drained: catch up with the hub */
    }
}

/* Heartbeat comments for streams quiet for heartbeat_s; returns the wait
 * until the next one is due, in ms (at most a second). */
static int heartbeats(struct delivery *d)
{
    struct timespec now = monotime_now();
    while (d->oldest) {
        struct delivery_stream *s = d->oldest;
        struct timespec due = s->last_write;
        due.tv_sec += d->heartbeat_s;
        if (monotime_before(&now, &due)) {
            long ms = (long)(due.tv_sec - now.tv_sec) * 1000 + (due.tv_nsec - now.tv_nsec) / 1000000;
            return ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms + 1;
        }
        if (send_comment(s, "heartbeat") != 0)
            finish(s, "client gone (write failed)", NULL);
    }
    return 1000;
}

/* Is the loop done? Once stopping, when every stream has ended or the
 * grace period is over (then the rest are cut off). */
static int finished(struct delivery *d, int *stopping)
{
    pthread_mutex_lock(&d->ready_lock);
    *stopping = d->stopping;
    struct timespec deadline = d->stop_deadline;
    pthread_mutex_unlock(&d->ready_lock);
    if (!*stopping)
        return 0;
    if (atomic_load(&d->open) == 0)
        return 1;
    struct timespec now = monotime_now();
    if (monotime_before(&now, &deadline))
        return 0;
    while (d->oldest)
        finish(d->oldest, "shutdown (grace period over)", NULL);
    return atomic_load(&d->open) == 0;
}

static void *loop(void *arg)
{
    struct delivery *d = arg;
    struct epoll_event events[256];
    int stopping = 0;
    while (!finished(d, &stopping)) {
        int timeout = heartbeats(d);
        int n = epoll_wait(d->epfd, events, 256, stopping && timeout > 100 ? 100 : timeout);
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == d) {
                uint64_t count;
                ssize_t ignored = read(d->wakefd, &count, sizeof count);
                (void)ignored;
            } else {
                on_socket(events[i].data.ptr, events[i].events);
            }
        }
        run_ready(d);
        reap(d);
    }
    reap(d);
    return NULL;
}

/* ---- the interface ---- */

struct delivery *delivery_start(struct hub *hub, struct stats *stats, unsigned heartbeat_s)
{
    struct delivery *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->hub = hub;
    d->stats = stats;
    d->heartbeat_s = heartbeat_s;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    d->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = d };
    if (d->epfd < 0 || d->wakefd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wakefd, &ev) != 0 ||
        pthread_mutex_init(&d->ready_lock, NULL) != 0) {
        log_error("cannot start the delivery loop: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&d->thread, NULL, loop, d) != 0) {
        pthread_mutex_destroy(&d->ready_lock);
        goto fail;
    }
    return d;
fail:
    if (d->epfd >= 0) close(d->epfd);
    if (d->wakefd >= 0) close(d->wakefd);
    free(d);
    return NULL;
}

static void kick(struct delivery *d)
{
    uint64_t one = 1;
    ssize_t ignored = write(d->wakefd, &one, sizeof one);
    (void)ignored;
}

void delivery_stop(struct delivery *d, int grace_ms)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->ready_lock);
    d->stopping = 1;
    d->stop_deadline = monotime_in_ms(grace_ms);
    pthread_mutex_unlock(&d->ready_lock);
    kick(d);
    pthread_join(d->thread, NULL);
    close(d->epfd);
    close(d->wakefd);
    pthread_mutex_destroy(&d->ready_lock);
    free(d);
}

struct delivery_stream *delivery_stream_new(struct delivery *d, unsigned long no)
{
    struct delivery_stream *s = calloc(1, sizeof *s);
    if (s) {
        s->d = d;
        s->no = no;
        s->fd = -1;
    }
    return s;
}

/* Must hold ready_lock. Returns 1 if the list was empty (the loop may sleep). */
static int enqueue(struct delivery *d, struct delivery_stream *s)
{
    if (s->queued)
        return 0;
    s->queued = 1;
    s->next_ready = NULL;
    int was_empty = d->ready_tail == NULL;
    if (d->ready_tail) d->ready_tail->next_ready = s; else d->ready_head = s;
    d->ready_tail = s;
    return was_empty;
}

void delivery_wake(void *stream)
{
    struct delivery_stream *s = stream;
    struct delivery *d = s->d;
    pthread_mutex_lock(&d->ready_lock);
    int kick_loop = s->adopted && !s->closed && enqueue(d, s);
    pthread_mutex_unlock(&d->ready_lock);
    if (kick_loop)
        kick(d);
}

void delivery_adopt(struct delivery_stream *s, int fd, int request_id, struct hub_sub *sub)
{
    struct delivery *d = s->d;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    atomic_fetch_add(&d->open, 1);
    /*
     * All under the lock: once the fd is in epoll the loop may end the
     * stream at any moment, and it takes this lock to do so, so the stream
     * cannot be freed before this function is done with it.
     */
    pthread_mutex_lock(&d->ready_lock);
    s->fd = fd;
    s->request_id = request_id;
    s->sub = sub;
    s->last_write = monotime_now();
    s->adopted = 1;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = s };
    epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
    int kick_loop = enqueue(d, s); /* the first pump sends anything already due */
    pthread_mutex_unlock(&d->ready_lock);
    if (kick_loop)
        kick(d);
}

void delivery_stream_free(struct delivery_stream *s)
{
    free(s);
}

size_t delivery_open(struct delivery *d)
{
    return atomic_load(&d->open);
}
