#define _GNU_SOURCE /* accept4 */
#include "server.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "monotime.h"
#include "refuse.h"
#include "router.h"

/*
 * A request thread reads a request and writes a short answer (streams need
 * none: the accept thread answers their handshake, the delivery loop writes
 * their frames), so it needs far less than glibc's 8 MiB default.
 */
#ifndef REQUEST_STACK_KIB
#define REQUEST_STACK_KIB 64
#endif

/* How long a stop waits for requests in flight before cutting them off. */
#define DRAIN_SECONDS 5

/* The most connections taken from the listen queue in one go, so that the
 * watchdog runs between bursts. */
#define ACCEPT_BURST 64

/*
 * How long every request thread may stay busy, none finishing, before new
 * connections are refused with 503 instead of waiting in the listen queue.
 * A burst of handshakes (each well under a millisecond of CPU) only waits,
 * even on a starved machine: 200 ms proved too short for 64 handshakes at a
 * load of 9 on 2 cores under ASan. A pool held by slow peers (they hold a
 * thread up to --request-timeout) is overload, answered within this delay.
 */
#define SATURATED_GRACE_MS 1000

/*
 * One accepted connection, from accept until its request is answered or its
 * stream handed to the delivery loop. The slots are the bound on requests in
 * flight: a connection is only accepted into a free slot.
 */
enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_RUNNING };

struct slot {
    enum slot_state state;
    int fd;                    /* the connection; the request owns it */
    int watch_fd;              /* a dup of fd, owned by the slot: see expire_late() */
    int expired;               /* the watchdog has cut it off */
    unsigned long no;          /* request number once read (0 before), for the log */
    struct timespec deadline;  /* the whole request must be in by then */
};

struct server {
    int listen_fd;
    int wake[2];               /* non-blocking; wakes the accept thread's poll() */
    const struct app *app;
    unsigned timeout_s;        /* per read, and for a whole request */
    atomic_int stopping;
    pthread_attr_t thread_attr;
    pthread_t *threads;        /* the request threads, nslots of them */
    unsigned started;          /* how many of them run */
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t work;       /* a slot was queued, or stopping */
    pthread_cond_t idle;       /* a slot was freed */
    struct slot *slots;
    unsigned nslots;
    unsigned *queue;           /* queued slot indexes, oldest first (a ring) */
    unsigned queue_head, queued;
    unsigned in_flight;        /* slots not free */
    int accept_waits;          /* the accept thread waits for a free slot */
    atomic_ulong requests;     /* requests read, to number them in the log */
    int spare_fd;              /* given up to accept one more at EMFILE */
};

/* ---- setting up and freeing ---- */

static int make_wake_pipe(int wake[2])
{
    if (pipe(wake) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        int flags = fcntl(wake[i], F_GETFL);
        if (flags < 0 || fcntl(wake[i], F_SETFL, flags | O_NONBLOCK) != 0 ||
            fcntl(wake[i], F_SETFD, FD_CLOEXEC) != 0) {
            close(wake[0]);
            close(wake[1]);
            return -1;
        }
    }
    return 0;
}

/*
 * The listening socket is made non-blocking: accept(2) must never block the
 * accept thread, which also runs the watchdog and must wake for a stop. A
 * socket shared with other processes (spawn-fcgi -F, systemd) may be taken
 * by another process between poll() and accept(); non-blocking, that is
 * EAGAIN rather than a hang. systemd makes its sockets non-blocking itself.
 */
static int make_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

struct server *server_new(int listen_fd, const struct app *app, const struct server_limits *lim)
{
    struct server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->nslots = lim->max_requests;
    srv->timeout_s = lim->timeout_s;
    srv->slots = calloc(srv->nslots, sizeof *srv->slots);
    srv->queue = calloc(srv->nslots, sizeof *srv->queue);
    srv->threads = calloc(srv->nslots, sizeof *srv->threads);
    pthread_condattr_t cattr;
    if (!srv->slots || !srv->queue || !srv->threads || make_nonblocking(listen_fd) != 0 ||
        make_wake_pipe(srv->wake) != 0) {
        log_error("cannot set up the server: %s", strerror(errno));
        free(srv->slots);
        free(srv->queue);
        free(srv->threads);
        free(srv);
        return NULL;
    }
    srv->listen_fd = listen_fd;
    srv->app = app;
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    atomic_init(&srv->stopping, 0);
    atomic_init(&srv->requests, 0);
    /* Both fail only for invalid arguments (EINVAL), which these are not. */
    pthread_attr_init(&srv->thread_attr);
    pthread_attr_setstacksize(&srv->thread_attr, REQUEST_STACK_KIB * 1024);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->work, NULL);
    /* The drain waits against the monotonic clock, like every deadline here. */
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->idle, &cattr);
    pthread_condattr_destroy(&cattr);
    return srv;
}

void server_free(struct server *srv)
{
    if (!srv)
        return;
    pthread_attr_destroy(&srv->thread_attr);
    pthread_cond_destroy(&srv->work);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->lock);
    close(srv->wake[0]);
    close(srv->wake[1]);
    if (srv->spare_fd >= 0)
        close(srv->spare_fd);
    free(srv->slots);
    free(srv->queue);
    free(srv->threads);
    free(srv);
}

static void wake_accept_thread(struct server *srv)
{
    ssize_t n;
    do
        n = write(srv->wake[1], "", 1);
    while (n < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full, so the accept thread wakes anyway. */
}

/* ---- the request threads ---- */

/* Waits for a queued slot; returns 0 once stopping and nothing is queued. */
static int take_slot(struct server *srv, unsigned *index)
{
    pthread_mutex_lock(&srv->lock);
    while (srv->queued == 0 && !atomic_load(&srv->stopping))
        pthread_cond_wait(&srv->work, &srv->lock);
    int got = srv->queued > 0;
    if (got) {
        *index = srv->queue[srv->queue_head];
        srv->queue_head = (srv->queue_head + 1) % srv->nslots;
        srv->queued--;
        srv->slots[*index].state = SLOT_RUNNING;
    }
    pthread_mutex_unlock(&srv->lock);
    return got;
}

static void release_slot(struct server *srv, unsigned index)
{
    pthread_mutex_lock(&srv->lock);
    struct slot *s = &srv->slots[index];
    /* Under the lock: the watchdog only touches watch_fd under it, so it
     * never shuts down a descriptor number that has been reused. */
    close(s->watch_fd);
    s->state = SLOT_FREE;
    srv->in_flight--;
    pthread_cond_broadcast(&srv->idle);
    int notify = srv->accept_waits;
    srv->accept_waits = 0;
    pthread_mutex_unlock(&srv->lock);
    if (notify)
        wake_accept_thread(srv);
}

/*
 * Reads the request with libfcgi on a connection accepted by the accept
 * thread, and answers it. FCGX_Accept_r skips its own accept() when ipcFd is
 * already set; keepConnection stops the FCGX_Finish_r it starts with from
 * closing that fd. If the request cannot be read (a timeout, a protocol
 * error), libfcgi closes the connection and would then accept() a new one:
 * the listening socket -1 makes that fail at once, so the thread never
 * blocks on the real listening socket.
 */
static void serve_slot(struct server *srv, struct slot *s)
{
    FCGX_Request req;
    FCGX_InitRequest(&req, -1, 0);
    req.ipcFd = s->fd; /* fd does not change while the slot runs */
    req.keepConnection = 1;
    if (FCGX_Accept_r(&req) != 0) {
        log_debug("a connection sent no complete request: closed");
        FCGX_Free(&req, 1);
        return;
    }
    /* Numbered once read, so that probes and refused peers use no number. */
    unsigned long no = atomic_fetch_add(&srv->requests, 1) + 1;
    pthread_mutex_lock(&srv->lock);
    s->no = no;
    pthread_mutex_unlock(&srv->lock);
    if (router_serve(&req, srv->app, no))
        return; /* a stream: the delivery loop owns the connection now */
    /* Sends FCGI_END_REQUEST and closes the connection: nginx then ends the
     * HTTP response properly (the last chunk). */
    FCGX_Finish_r(&req);
    /* A peer that asked to keep the connection (FCGI_KEEP_CONN) would hold
     * this thread while it idles between requests: close it regardless. */
    FCGX_Free(&req, 1);
}

static void *request_thread(void *arg)
{
    struct server *srv = arg;
    unsigned index;
    while (take_slot(srv, &index)) {
        serve_slot(srv, &srv->slots[index]);
        release_slot(srv, index);
    }
    return NULL;
}

static int start_threads(struct server *srv)
{
    for (; srv->started < srv->nslots; srv->started++) {
        int rc = pthread_create(&srv->threads[srv->started], &srv->thread_attr,
                                request_thread, srv);
        if (rc != 0) {
            log_error("cannot start request thread %u of %u: %s", srv->started + 1,
                      srv->nslots, strerror(rc));
            return -1;
        }
    }
    return 0;
}

/* ---- the watchdog ---- */

static long ms_until(struct timespec now, struct timespec then)
{
    long ms = (long)(then.tv_sec - now.tv_sec) * 1000 +
              (then.tv_nsec - now.tv_nsec) / 1000000L;
    return ms < 0 ? 0 : ms + 1;
}

/*
 * A read timeout (SO_RCVTIMEO) bounds each read, but a peer that trickles a
 * byte now and then would hold a request thread for ever. So every request
 * has a deadline, and past it the watchdog (the accept thread) shuts down
 * the reading side of its connection: a blocked read returns end-of-file at
 * once and libfcgi gives up on the request. It works on watch_fd, the
 * slot's own dup of the connection, because the request may close fd at any
 * moment (or hand it to the delivery loop, which may close it), and the
 * number could then name someone else's connection. Returns the ms until
 * the next deadline, or -1 for none.
 */
static long expire_late(struct server *srv, struct timespec now, int how)
{
    long next = -1;
    pthread_mutex_lock(&srv->lock);
    for (unsigned i = 0; i < srv->nslots; i++) {
        struct slot *s = &srv->slots[i];
        if (s->state == SLOT_FREE || (s->expired && how == SHUT_RD))
            continue;
        long ms = how == SHUT_RD ? ms_until(now, s->deadline) : 0;
        if (ms > 0) {
            next = next < 0 || ms < next ? ms : next;
            continue;
        }
        if (shutdown(s->watch_fd, how) != 0 && errno != ENOTCONN)
            log_warn("cannot shut down a connection: %s", strerror(errno));
        s->expired = 1;
        if (how == SHUT_RDWR)
            log_info("request %lu: still running at stop, connection cut off", s->no);
        else if (s->no)
            log_info("request %lu: not done within %u s, connection cut off", s->no,
                     srv->timeout_s);
        else
            log_info("a connection sent no complete request within %u s: cut off",
                     srv->timeout_s);
    }
    pthread_mutex_unlock(&srv->lock);
    return next;
}

/* ---- accepting ---- */

/*
 * Bounds on what one peer can hold: each read and write on the connection
 * waits at most timeout_s (the watchdog bounds the whole request). Once a
 * stream is handed over, the delivery loop makes the socket non-blocking
 * and these no longer apply. TCP_NODELAY as libfcgi's own accept sets it:
 * frames are small and must not wait for an acknowledgement.
 */
static void configure_connection(struct server *srv, int fd, int is_inet)
{
    struct timeval tv = { .tv_sec = (time_t)srv->timeout_s };
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
        (is_inet && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0))
        log_warn("cannot set timeouts on a connection: %s", strerror(errno));
}

/* Queues an accepted connection for the request threads; the caller made
 * sure a slot is free. Returns -1 (fd left to the caller) without memory. */
static int queue_connection(struct server *srv, int fd)
{
    int watch_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (watch_fd < 0)
        return -1;
    pthread_mutex_lock(&srv->lock);
    unsigned i = 0;
    while (srv->slots[i].state != SLOT_FREE)
        i++;
    srv->slots[i] = (struct slot){
        .state = SLOT_QUEUED, .fd = fd, .watch_fd = watch_fd, .no = 0,
        .deadline = monotime_in_ms((long)srv->timeout_s * 1000),
    };
    srv->queue[(srv->queue_head + srv->queued) % srv->nslots] = i;
    srv->queued++;
    srv->in_flight++;
    pthread_cond_signal(&srv->work);
    pthread_mutex_unlock(&srv->lock);
    return 0;
}

/* Is a slot free? If not, asks release_slot() to wake us when one is. */
static int slot_free(struct server *srv)
{
    pthread_mutex_lock(&srv->lock);
    int room = srv->in_flight < srv->nslots;
    srv->accept_waits = !room;
    pthread_mutex_unlock(&srv->lock);
    return room;
}

/*
 * Out of descriptors: the connection waiting in the listen queue cannot
 * even be accepted to be told so, and would hang until nginx gives up. The
 * spare descriptor kept for this moment is given up to accept it and
 * answer 503, then taken back. Returns 1 if one was refused this way.
 */
static int refuse_without_fds(struct server *srv)
{
    if (srv->spare_fd < 0)
        return 0;
    close(srv->spare_fd);
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        refuse_connection(fd, "service unavailable: out of file descriptors");
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
}

/*
 * Accepts what the listen queue holds: into free slots, or, when refusing
 * (every slot busy past the grace period), to answer 503 at once. Returns
 * the ms to wait before accepting again after an error, or 0.
 */
static long accept_ready(struct server *srv, int refusing)
{
    unsigned refused = 0, out_of_fds = 0;
    long backoff = 0;
    for (int n = 0; n < ACCEPT_BURST; n++) {
        int room = slot_free(srv);
        if (!room && !refusing)
            break;
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(srv->listen_fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (atomic_load(&srv->stopping))
                break; /* server_stop() shut the socket down */
            if ((errno == EMFILE || errno == ENFILE) && refuse_without_fds(srv)) {
                out_of_fds++;
                continue;
            }
            /* ENOBUFS and friends: back off rather than spin. */
            log_warn("accept failed: %s", strerror(errno));
            backoff = 100;
            break;
        }
        if (!room) {
            refuse_connection(fd, "service unavailable: too many requests in flight");
            refused++;
            continue;
        }
        configure_connection(srv, fd, peer.ss_family == AF_INET || peer.ss_family == AF_INET6);
        if (queue_connection(srv, fd) != 0) {
            /* No descriptor for the watchdog's dup: refused, not dropped. */
            refuse_connection(fd, "service unavailable: out of file descriptors");
            out_of_fds++;
        }
    }
    if (refused > 0)
        log_warn("503 to %u connections: all %u request threads busy (--max-requests)",
                 refused, srv->nslots);
    if (out_of_fds > 0)
        log_warn("503 to %u connections: out of file descriptors", out_of_fds);
    atomic_fetch_add(&srv->app->stats->requests_rejected, refused + out_of_fds);
    return backoff;
}

static void drain_wake_pipe(struct server *srv)
{
    char buf[64];
    while (read(srv->wake[0], buf, sizeof buf) > 0)
        ;
}

/*
 * The accept thread: waits in poll() for a connection, a stop or the next
 * deadline. It never reads a request itself, so no peer can hold it: it
 * only accepts and queues, and the request threads parse with libfcgi. While
 * every slot is busy new connections wait in the kernel's listen queue, for
 * SATURATED_GRACE_MS; past that they are accepted and refused with 503.
 */
static void accept_loop(struct server *srv)
{
    struct timespec resume = monotime_now(); /* after an accept error: back off */
    struct timespec refuse_from = resume;    /* when every slot has been busy */
    int full = 0;
    while (!atomic_load(&srv->stopping)) {
        struct timespec now = monotime_now();
        long timeout = expire_late(srv, now, SHUT_RD);
        long paused = ms_until(now, resume);
        int room = slot_free(srv);
        if (!room && !full)
            refuse_from = monotime_in_ms(SATURATED_GRACE_MS);
        full = !room;
        long grace = full ? ms_until(now, refuse_from) : 0;
        int refusing = full && grace == 0;
        int listening = paused == 0 && (room || refusing);
        if (paused > 0 && (timeout < 0 || paused < timeout))
            timeout = paused;
        if (grace > 0 && (timeout < 0 || grace < timeout))
            timeout = grace;
        struct pollfd fds[2] = {
            { .fd = srv->wake[0], .events = POLLIN },
            { .fd = listening ? srv->listen_fd : -1, .events = POLLIN },
        };
        int rc = poll(fds, 2, timeout > INT_MAX ? INT_MAX : (int)timeout);
        if (rc < 0 && errno != EINTR) {
            log_error("poll failed in the accept thread: %s", strerror(errno));
            resume = monotime_in_ms(100);
            continue;
        }
        if (rc > 0 && fds[0].revents)
            drain_wake_pipe(srv);
        if (rc > 0 && fds[1].revents) {
            long backoff = accept_ready(srv, refusing);
            if (backoff > 0)
                resume = monotime_in_ms(backoff);
        }
    }
}

/*
 * Waits for the requests in flight (their threads end once the queue is
 * empty), at most DRAIN_SECONDS; then cuts off the connections of those
 * left, which ends their reads and writes at once, and joins every thread.
 * After this no request thread runs, so nothing they use can be freed
 * under them. Returns how many had to be cut off.
 */
static unsigned drain(struct server *srv)
{
    struct timespec until = monotime_in_ms(DRAIN_SECONDS * 1000L);
    pthread_mutex_lock(&srv->lock);
    pthread_cond_broadcast(&srv->work);
    while (srv->in_flight > 0 &&
           pthread_cond_timedwait(&srv->idle, &srv->lock, &until) != ETIMEDOUT)
        ;
    unsigned left = srv->in_flight;
    pthread_mutex_unlock(&srv->lock);
    if (left > 0)
        expire_late(srv, monotime_now(), SHUT_RDWR);
    for (unsigned i = 0; i < srv->started; i++)
        pthread_join(srv->threads[i], NULL);
    return left;
}

int server_run(struct server *srv)
{
    int started = start_threads(srv) == 0;
    if (started)
        accept_loop(srv);
    else
        atomic_store(&srv->stopping, 1);
    unsigned left = drain(srv);
    if (left > 0)
        log_warn("%u requests still in flight after %d s: cut off", left, DRAIN_SECONDS);
    return started ? (int)left : -1;
}

void server_stop(struct server *srv)
{
    atomic_store(&srv->stopping, 1);
    wake_accept_thread(srv);
    /* A socket of our own also refuses new connections at once, so nginx
     * answers 502 now rather than after the drain. Never an inherited one:
     * shutdown() acts on the socket, which PID 1 shares, and systemd would
     * then fail the socket unit and refuse every later connection. */
    if (srv->app->cfg->listen)
        shutdown(srv->listen_fd, SHUT_RDWR);
}
