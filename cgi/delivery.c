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

/* Events fanned out per hub_reader_done(), and at most per iteration of
 * the loop: under a flood the loop still gets round to its sockets (drains,
 * hang-ups) and its inbox between batches. */
#define FAN_OUT_BATCH 64
#define FAN_OUT_MAX (4 * FAN_OUT_BATCH)

/*
 * Frames written to one stream in one writev() at most. Under a burst a
 * stream gets several events per batch: one system call for all of them
 * (here, and in nginx, which reads them in one go) instead of one each.
 */
#define CORK_MAX 16

/* A frame waiting for the end of the batch, in the loop's cork pool. */
struct cork_item {
    const struct hub_frame *frame;
    uint32_t next;                /* index in the pool; the last one: unused */
};

struct loop;

/* One open stream. Once in its loop's inbox, only that loop's thread touches it. */
struct delivery_stream {
    struct loop *loop;
    unsigned long no;
    int fd;
    int request_id;
    struct hub_sub *sub;
    struct strbuf pending;        /* FastCGI bytes the socket did not take yet */
    size_t pending_off;
    int want_out;                 /* EPOLLOUT registered */
    int in_loop;                  /* taken from the inbox: its socket events count */
    int ended;                    /* finished: freed at the end of the iteration */
    int doomed;                   /* a write failed during fan-out: finish after it */
    struct timespec last_write;
    int listed;                   /* on the open list */
    struct delivery_stream *prev, *next; /* the open list, oldest write first */
    struct delivery_stream *link; /* inbox, doomed list or graveyard */
    unsigned long frames;
    /* Frames of the current batch not written yet (see cork_add). */
    uint32_t cork_first, cork_last;
    unsigned cork_n;
    int cork_listed;              /* on the loop's corked list */
    struct delivery_stream *cork_link;
};

struct loop {
    struct delivery *d;
    unsigned index;               /* the hub reader it is */
    int epfd;
    int wakefd;                   /* eventfd: new events, new streams, stop */
    pthread_t thread;
    pthread_mutex_t lock;         /* the inbox, stopping */
    struct delivery_stream *inbox;
    int stopping;
    atomic_int failed;            /* the loop ended on a system call error */
    struct timespec stop_deadline;
    _Atomic size_t open;          /* streams in the inbox or open */
    /* The loop thread's own. */
    struct delivery_stream *oldest, *newest; /* open streams by last write */
    struct delivery_stream *doomed, *graveyard;
    uint64_t done;                /* fanned out up to this event */
    int saw_close;                /* the hub's close has been passed on */
    unsigned long long delivered; /* frames not yet added to stats */
    /* The batch's frames per stream, written when the batch is done. */
    struct cork_item *cork;
    size_t cork_len, cork_cap;
    struct delivery_stream *corked;
};

struct delivery {
    struct hub *hub;
    struct stats *stats;
    unsigned heartbeat_s;
    unsigned nloops;
    atomic_uint turn;             /* where the search for the least loaded starts */
    struct loop loops[];
};

/* ---- the open list: streams ordered by their last write (heartbeats) ---- */

static void list_remove(struct loop *l, struct delivery_stream *s)
{
    if (!s->listed)
        return;
    if (s->prev) s->prev->next = s->next; else l->oldest = s->next;
    if (s->next) s->next->prev = s->prev; else l->newest = s->prev;
    s->prev = s->next = NULL;
    s->listed = 0;
}

static void list_append(struct loop *l, struct delivery_stream *s)
{
    s->prev = l->newest;
    s->next = NULL;
    if (l->newest) l->newest->next = s; else l->oldest = s;
    l->newest = s;
    s->listed = 1;
}

static void touched(struct delivery_stream *s)
{
    s->last_write = monotime_now();
    list_remove(s->loop, s);
    list_append(s->loop, s);
}

/* ---- writing ---- */

/* Returns -1 when epoll refuses (the stream must end: it would never drain). */
static int want_writable(struct delivery_stream *s, int on)
{
    if (s->want_out == on)
        return 0;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
                              .data.ptr = s };
    if (epoll_ctl(s->loop->epfd, EPOLL_CTL_MOD, s->fd, &ev) != 0) {
        log_error("stream %lu: epoll_ctl(MOD): %s", s->no, strerror(errno));
        return -1;
    }
    s->want_out = on;
    return 0;
}

/* Writes what is pending; returns -1 when the connection is gone. */
static int flush_pending(struct delivery_stream *s)
{
    while (s->pending_off < s->pending.len) {
        ssize_t n = write(s->fd, s->pending.ptr + s->pending_off,
                          s->pending.len - s->pending_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return want_writable(s, 1);
        if (n <= 0)
            return -1;
        s->pending_off += (size_t)n;
    }
    strbuf_free(&s->pending); /* an idle stream keeps no buffer */
    s->pending_off = 0;
    return want_writable(s, 0);
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
    touched(s);
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

/*
 * Sends n frames in one writev() when they fit in single records (the usual
 * case); a frame over a record's content is sent on its own.
 */
static int send_frames(struct delivery_stream *s, const struct hub_frame *const *frames,
                       unsigned n)
{
    FCGI_Header heads[CORK_MAX];
    struct iovec iov[2 * CORK_MAX];
    int niov = 0;
    for (unsigned i = 0; i < n && i < CORK_MAX; i++) {
        const struct hub_frame *f = frames[i];
        if (f->len > FCGI_RECORD_MAX_CONTENT) {
            if ((niov > 0 && send_iov(s, iov, niov) != 0) || send_frame(s, f->bytes, f->len) != 0)
                return -1;
            niov = 0;
            continue;
        }
        heads[i] = fcgi_stdout_header(s->request_id, f->len);
        iov[niov++] = (struct iovec){ &heads[i], sizeof heads[i] };
        iov[niov++] = (struct iovec){ (void *)f->bytes, f->len };
    }
    if (niov > 0 && send_iov(s, iov, niov) != 0)
        return -1;
    s->frames += n;
    s->loop->delivered += n;
    return 0;
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
 * response properly, and releases everything but the record, which is freed
 * at the end of the loop's iteration: events already read may still name it.
 */
static void finish(struct delivery_stream *s, const char *why, const char *goodbye)
{
    struct loop *l = s->loop;
    if (s->ended)
        return;
    if (goodbye)
        send_comment(s, goodbye);
    struct strbuf end = STRBUF_INIT;
    if (fcgi_append_end(&end, s->request_id) == 0) {
        struct iovec iov = { end.ptr, end.len };
        send_iov(s, &iov, 1);
    }
    strbuf_free(&end);
    hub_unsubscribe(l->d->hub, s->sub);
    s->sub = NULL;
    close(s->fd); /* also takes it out of the epoll set */
    list_remove(l, s);
    strbuf_free(&s->pending);
    s->ended = 1;
    size_t left = atomic_fetch_sub(&l->open, 1) - 1;
    log_info("stream %lu closed: %s, %lu frames sent, %zu on loop %u", s->no, why, s->frames,
             left, l->index);
    s->link = l->graveyard;
    l->graveyard = s;
}

static void reap(struct loop *l)
{
    while (l->graveyard) {
        struct delivery_stream *s = l->graveyard;
        l->graveyard = s->link;
        free(s);
    }
}

/* ---- catching up from the hub's history ---- */

static void pump(struct delivery_stream *s, int stopping)
{
    if (s->ended)
        return;
    if (s->pending.len > 0) {
        /* Backpressure: take nothing more until the socket drains. Past
         * the history the hub will say LAGGED and the stream ends. */
        if (stopping)
            finish(s, "shutdown (client too slow for a goodbye)", NULL);
        return;
    }
    struct hub_frame *frames[CORK_MAX];
    enum hub_next r;
    do {
        size_t n;
        r = hub_next_many(s->loop->d->hub, s->sub, frames, CORK_MAX, &n);
        int rc = n > 0 ? send_frames(s, (const struct hub_frame *const *)frames, (unsigned)n) : 0;
        for (size_t i = 0; i < n; i++)
            hub_frame_release(frames[i]);
        if (rc != 0) {
            finish(s, "client gone (write failed)", NULL);
            return;
        }
        if (s->pending.len > 0)
            return;
    } while (r == HUB_NEXT_FRAME);
    if (r == HUB_NEXT_CLOSED)
        finish(s, "shutdown", "server shutting down, reconnect after retry");
    else if (r == HUB_NEXT_LAGGED)
        finish(s, "fell behind the history",
               "too far behind: reconnect to resume from Last-Event-ID");
}

/* ---- fan-out: the loop's share of each publish ---- */

/* A write failed: finished after the fan-out (the hub may be walking the
 * member lists now). */
static void doom(struct delivery_stream *s)
{
    if (!s->doomed) {
        s->doomed = 1;
        s->link = s->loop->doomed;
        s->loop->doomed = s;
    }
}

/* Writes the stream's corked frames in one go; 0, or -1 when it is gone. */
static int cork_flush(struct delivery_stream *s)
{
    const struct hub_frame *frames[CORK_MAX];
    unsigned n = 0;
    for (uint32_t i = s->cork_first; n < s->cork_n; i = s->loop->cork[i].next)
        frames[n++] = s->loop->cork[i].frame;
    s->cork_n = 0;
    return send_frames(s, frames, n);
}

/*
 * Keeps frame for the end of the batch (the hub keeps it alive until this
 * loop's hub_reader_done). Returns -1 when the pool cannot grow.
 */
static int cork_add(struct delivery_stream *s, const struct hub_frame *frame)
{
    struct loop *l = s->loop;
    if (l->cork_len == l->cork_cap) {
        size_t cap = l->cork_cap ? 2 * l->cork_cap : 1024;
        struct cork_item *grown = cap <= UINT32_MAX ? realloc(l->cork, cap * sizeof *grown) : NULL;
        if (!grown)
            return -1;
        l->cork = grown;
        l->cork_cap = cap;
    }
    uint32_t i = (uint32_t)l->cork_len++;
    l->cork[i] = (struct cork_item){ frame, 0 };
    if (s->cork_n++ == 0)
        s->cork_first = i;
    else
        l->cork[s->cork_last].next = i;
    if (!s->cork_listed) {
        s->cork_listed = 1;
        s->cork_link = l->corked;
        l->corked = s;
    }
    s->cork_last = i;
    return 0;
}

/*
 * The hub_send_fn: a live stream takes the frame unless its socket is full.
 * Frames wait in the cork until the batch ends (flush_corked) or CORK_MAX
 * are there; a stream with bytes already queued is full: the frame joins
 * them, and the hub sees it fall behind.
 */
static int deliver(void *owner, const struct hub_frame *frame)
{
    struct delivery_stream *s = owner;
    int rc;
    if (s->pending.len > 0)
        rc = send_frames(s, &frame, 1); /* joins the queued bytes, in order */
    else if (cork_add(s, frame) != 0) /* no memory for the pool: the corked ones first */
        rc = (s->cork_n > 0 ? cork_flush(s) : 0) != 0 ? -1 : send_frames(s, &frame, 1);
    else
        rc = s->cork_n == CORK_MAX ? cork_flush(s) : 0;
    if (rc != 0) {
        doom(s);
        return -1;
    }
    return s->pending.len > 0;
}

/* End of a batch: every corked stream writes its frames. */
static void flush_corked(struct loop *l)
{
    while (l->corked) {
        struct delivery_stream *s = l->corked;
        l->corked = s->cork_link;
        s->cork_listed = 0;
        if (s->doomed)
            s->cork_n = 0; /* its connection is gone already */
        else if (s->cork_n > 0 && cork_flush(s) != 0)
            doom(s);
    }
    l->cork_len = 0;
}

static void finish_doomed(struct loop *l)
{
    while (l->doomed) {
        struct delivery_stream *s = l->doomed;
        l->doomed = s->link;
        finish(s, "client gone (write failed)", NULL);
    }
}

/* Once the hub closes: every stream says goodbye (or does when it drains). */
static void pass_on_close(struct loop *l, int stopping)
{
    struct delivery_stream *s = l->oldest;
    while (s) {
        struct delivery_stream *next = s->next;
        pump(s, stopping);
        s = next;
    }
}

/* Returns 1 when events are left for the next iteration (do not sleep). */
static int fan_out(struct loop *l, int stopping)
{
    struct hub *hub = l->d->hub;
    int closed;
    uint64_t last = hub_reader_todo(hub, l->index, &closed);
    if (closed) {
        if (!l->saw_close || stopping)
            pass_on_close(l, stopping);
        l->saw_close = 1;
        return 0;
    }
    uint64_t stop_at = l->done + FAN_OUT_MAX;
    while (l->done < last && l->done < stop_at) {
        uint64_t end = last - l->done > FAN_OUT_BATCH ? l->done + FAN_OUT_BATCH : last;
        for (uint64_t seq = l->done + 1; seq <= end; seq++)
            hub_fan_out(hub, l->index, seq, deliver);
        flush_corked(l); /* before hub_reader_done: the frames are still kept */
        l->done = end;
        hub_reader_done(hub, l->index, end); /* publishers waiting may go on */
        finish_doomed(l);
        if (end == last)
            last = hub_reader_todo(hub, l->index, &closed);
    }
    if (l->delivered) {
        atomic_fetch_add(&l->d->stats->delivered, l->delivered);
        l->delivered = 0;
    }
    return l->done < last;
}

/* ---- new streams ---- */

/* The inbox's streams start: on the member lists, head sent, history caught up. */
static void take_inbox(struct loop *l, int stopping)
{
    pthread_mutex_lock(&l->lock);
    struct delivery_stream *s = l->inbox;
    l->inbox = NULL;
    pthread_mutex_unlock(&l->lock);
    while (s) {
        struct delivery_stream *next = s->link;
        s->in_loop = 1;
        hub_attach(l->d->hub, s->sub);
        touched(s); /* heartbeats count from the head */
        if (flush_pending(s) != 0)
            finish(s, "client gone before the head was sent", NULL);
        else
            pump(s, stopping);
        s = next;
    }
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
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
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
static int heartbeats(struct loop *l)
{
    struct timespec now = monotime_now();
    while (l->oldest) {
        struct delivery_stream *s = l->oldest;
        struct timespec due = s->last_write;
        due.tv_sec += l->d->heartbeat_s;
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
static int finished(struct loop *l, int *stopping)
{
    pthread_mutex_lock(&l->lock);
    *stopping = l->stopping;
    struct timespec deadline = l->stop_deadline;
    pthread_mutex_unlock(&l->lock);
    if (!*stopping)
        return 0;
    if (atomic_load(&l->open) == 0)
        return 1;
    struct timespec now = monotime_now();
    if (monotime_before(&now, &deadline))
        return 0;
    while (l->oldest)
        finish(l->oldest, "shutdown (grace period over)", NULL);
    return atomic_load(&l->open) == 0; /* else the inbox's, next time round */
}

static void drain_wakefd(struct loop *l)
{
    uint64_t count;
    if (read(l->wakefd, &count, sizeof count) < 0 && errno != EAGAIN && errno != EINTR)
        log_error("delivery loop %u: read(eventfd): %s", l->index, strerror(errno));
}

/* Ends every stream, in the loop or still in the inbox. */
static void end_all(struct loop *l, const char *why)
{
    take_inbox(l, 1);
    while (l->oldest)
        finish(l->oldest, why, NULL);
    reap(l);
}

static void *loop_run(void *arg)
{
    struct loop *l = arg;
    struct epoll_event events[256];
    int stopping = 0, more = 0;
    while (!finished(l, &stopping)) {
        int timeout = heartbeats(l);
        if (more || (stopping && timeout > 100))
            timeout = more ? 0 : 100;
        int n = epoll_wait(l->epfd, events, 256, timeout);
        if (n < 0 && errno != EINTR) {
            /* Not expected on a valid epoll set: end this loop's streams
             * (clients reconnect) and take no more; the other loops go on. */
            log_error("delivery loop %u stopped: epoll_wait: %s", l->index, strerror(errno));
            pthread_mutex_lock(&l->lock); /* hand_to_loop checks it under the lock */
            atomic_store(&l->failed, 1);
            pthread_mutex_unlock(&l->lock);
            hub_set_reader(l->d->hub, l->index, NULL, NULL);
            end_all(l, "delivery loop failed");
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            struct delivery_stream *s = events[i].data.ptr;
            if (events[i].data.ptr == l)
                drain_wakefd(l);
            else if (s->in_loop && !s->ended) /* not yet taken: next time */
                on_socket(s, events[i].events);
        }
        take_inbox(l, stopping);
        more = fan_out(l, stopping);
        reap(l);
    }
    end_all(l, "shutdown");
    return NULL;
}

/* ---- the interface ---- */

static void kick(struct loop *l)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is full, so the loop wakes anyway. */
    if (write(l->wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_error("delivery loop %u: write(eventfd): %s", l->index, strerror(errno));
}

/* The hub_wake_fn. */
static void wake_loop(void *ctx)
{
    kick(ctx);
}

static int loop_init(struct delivery *d, unsigned index)
{
    struct loop *l = &d->loops[index];
    l->d = d;
    l->index = index;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
    if (l->epfd < 0 || l->wakefd < 0 ||
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0) {
        log_error("cannot start delivery loop %u: %s", index, strerror(errno));
        goto fail;
    }
    if (pthread_mutex_init(&l->lock, NULL) != 0)
        goto fail;
    hub_set_reader(d->hub, index, wake_loop, l);
    if (pthread_create(&l->thread, NULL, loop_run, l) != 0) {
        log_error("cannot start delivery loop %u: no thread", index);
        hub_set_reader(d->hub, index, NULL, NULL);
        pthread_mutex_destroy(&l->lock);
        goto fail;
    }
    return 0;
fail:
    if (l->epfd >= 0) close(l->epfd);
    if (l->wakefd >= 0) close(l->wakefd);
    return -1;
}

static void loop_stop(struct loop *l, struct timespec deadline)
{
    pthread_mutex_lock(&l->lock);
    l->stopping = 1;
    l->stop_deadline = deadline;
    pthread_mutex_unlock(&l->lock);
    kick(l);
}

static void loop_free(struct loop *l)
{
    pthread_join(l->thread, NULL);
    close(l->epfd);
    close(l->wakefd);
    pthread_mutex_destroy(&l->lock);
    free(l->cork);
}

struct delivery *delivery_start(struct hub *hub, struct stats *stats, unsigned heartbeat_s,
                                unsigned loops)
{
    if (loops == 0 || loops > DELIVERY_MAX_LOOPS)
        return NULL;
    struct delivery *d = calloc(1, sizeof *d + loops * sizeof d->loops[0]);
    if (!d)
        return NULL;
    d->hub = hub;
    d->stats = stats;
    d->heartbeat_s = heartbeat_s;
    atomic_init(&d->turn, 0);
    for (unsigned i = 0; i < loops; i++) {
        if (loop_init(d, i) != 0) {
            struct timespec now = monotime_now();
            for (unsigned k = 0; k < i; k++)
                loop_stop(&d->loops[k], now);
            for (unsigned k = 0; k < i; k++)
                loop_free(&d->loops[k]);
            free(d);
            return NULL;
        }
        d->nloops = i + 1;
    }
    return d;
}

void delivery_stop(struct delivery *d, int grace_ms)
{
    if (!d)
        return;
    struct timespec deadline = monotime_in_ms(grace_ms);
    for (unsigned i = 0; i < d->nloops; i++)
        loop_stop(&d->loops[i], deadline);
    for (unsigned i = 0; i < d->nloops; i++)
        loop_free(&d->loops[i]);
    free(d);
}

/* The working loop with the fewest streams, searched from a turning start
 * so that ties spread round robin. */
static struct loop *pick(struct delivery *d)
{
    unsigned start = atomic_fetch_add(&d->turn, 1) % d->nloops;
    struct loop *best = &d->loops[start];
    for (unsigned k = 1; k < d->nloops; k++) {
        struct loop *l = &d->loops[(start + k) % d->nloops];
        if (atomic_load(&l->failed))
            continue;
        if (atomic_load(&best->failed) || atomic_load(&l->open) < atomic_load(&best->open))
            best = l;
    }
    return best; /* a failed one only when all have: it refuses */
}

static struct delivery_stream *stream_new(struct loop *l, const struct delivery_request *req)
{
    struct delivery_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = l;
    s->no = req->no;
    s->fd = req->fd;
    s->request_id = req->request_id;
    if (fcgi_append_stdout(&s->pending, req->request_id, req->head, req->head_len) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void stream_discard(struct delivery *d, struct delivery_stream *s)
{
    hub_unsubscribe(d->hub, s->sub);
    strbuf_free(&s->pending);
    free(s);
}

/* Under the loop's lock: into its epoll set and its inbox. */
static enum hub_status hand_to_loop(struct loop *l, struct delivery_stream *s)
{
    if (atomic_load(&l->failed))
        return HUB_UNAVAILABLE;
    if (l->stopping)
        return HUB_CLOSED;
    /* Events may come before the loop takes the stream from the inbox: the
     * loop leaves them until then (level-triggered, they come again). */
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = s };
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
        log_error("stream %lu: epoll_ctl(ADD): %s", s->no, strerror(errno));
        return HUB_UNAVAILABLE;
    }
    s->link = l->inbox;
    l->inbox = s;
    atomic_fetch_add(&l->open, 1);
    return HUB_OK;
}

enum hub_status delivery_open(struct delivery *d, const struct delivery_request *req)
{
    struct loop *l = pick(d);
    struct delivery_stream *s = stream_new(l, req);
    if (!s)
        return HUB_NO_MEMORY;
    struct hub_subscription want = {
        .topics = req->topics, .ntopics = req->ntopics, .last_event_id = req->last_event_id,
        .reader = l->index, .owner = s,
    };
    enum hub_status st = hub_subscribe(d->hub, &want, &s->sub);
    if (st != HUB_OK) {
        strbuf_free(&s->pending);
        free(s);
        return st;
    }
    int flags = fcntl(req->fd, F_GETFL);
    if (flags < 0 || fcntl(req->fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        log_error("stream %lu: fcntl(O_NONBLOCK): %s", req->no, strerror(errno));
        stream_discard(d, s);
        return HUB_UNAVAILABLE;
    }
    pthread_mutex_lock(&l->lock);
    st = hand_to_loop(l, s);
    pthread_mutex_unlock(&l->lock);
    if (st != HUB_OK) {
        if (fcntl(req->fd, F_SETFL, flags) != 0) /* the caller answers with libfcgi */
            log_error("stream %lu: fcntl(restore): %s", req->no, strerror(errno));
        stream_discard(d, s);
        return st;
    }
    kick(l);
    return HUB_OK;
}

size_t delivery_open_streams(struct delivery *d)
{
    size_t n = 0;
    for (unsigned i = 0; i < d->nloops; i++)
        n += atomic_load(&d->loops[i].open);
    return n;
}
