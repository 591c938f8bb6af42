#include "server.h"

#include <errno.h>
#include <fcgiapp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "response.h"
#include "router.h"

/*
 * A request thread reads a request and writes a short answer (streams need
 * none: the accept thread answers their handshake, the delivery loop writes
 * their frames), so it needs far less than glibc's 8 MiB default.
 */
#ifndef REQUEST_STACK_KIB
#define REQUEST_STACK_KIB 64
#endif

/* How long a stop waits for the request threads still at work. */
#define DRAIN_SECONDS 5

struct server {
    int listen_fd;
    int wake[2];             /* server_stop() writes to wake[1] */
    const struct app *app;
    atomic_int stopping;
    pthread_attr_t thread_attr;
    pthread_mutex_t lock;
    pthread_cond_t idle;     /* signalled when the last request thread ends */
    unsigned active;         /* request threads alive, under lock */
    unsigned long accepted;  /* request counter, accept thread only */
};

/* One accepted request, owned by its thread from creation to the end. */
struct job {
    struct server *srv;
    FCGX_Request req;
    unsigned long no;
};

struct server *server_new(int listen_fd, const struct app *app)
{
    struct server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    if (pipe(srv->wake) != 0) {
        free(srv);
        return NULL;
    }
    srv->listen_fd = listen_fd;
    srv->app = app;
    atomic_init(&srv->stopping, 0);
    pthread_attr_init(&srv->thread_attr);
    pthread_attr_setdetachstate(&srv->thread_attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&srv->thread_attr, REQUEST_STACK_KIB * 1024);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->idle, NULL);
    return srv;
}

void server_free(struct server *srv)
{
    if (!srv)
        return;
    pthread_attr_destroy(&srv->thread_attr);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->lock);
    close(srv->wake[0]);
    close(srv->wake[1]);
    free(srv);
}

static void job_free(struct job *job, int handed_over)
{
    /* Sends FCGI_END_REQUEST and closes the connection: nginx then ends the
     * HTTP response properly (the last chunk). A stream handed to the
     * delivery loop is ended there instead. */
    if (!handed_over)
        FCGX_Finish_r(&job->req);
    free(job);
}

/* The end of a request thread's job. */
static void job_end(struct job *job, int handed_over)
{
    struct server *srv = job->srv;
    job_free(job, handed_over);
    pthread_mutex_lock(&srv->lock);
    if (--srv->active == 0)
        pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->lock);
}

static void *request_thread(void *arg)
{
    struct job *job = arg;
    job_end(job, router_serve(&job->req, job->srv->app, job->no));
    return NULL;
}

static void start_request(struct server *srv, struct job *job)
{
    pthread_t tid;
    if (router_is_quick(&job->req)) {
        /* A stream's handshake: cheaper here than a thread's start. */
        job_free(job, router_serve(&job->req, srv->app, job->no));
        return;
    }
    pthread_mutex_lock(&srv->lock);
    srv->active++;
    pthread_mutex_unlock(&srv->lock);
    int rc = pthread_create(&tid, &srv->thread_attr, request_thread, job);
    if (rc == 0)
        return;
    log_warn("request %lu: cannot start a thread: %s", job->no, strerror(rc));
    response_line(job->req.out, "503 Service Unavailable", "Retry-After: 5\r\n",
                  "service unavailable: cannot start another thread");
    job_end(job, 0);
}

static void pause_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&t, NULL);
}

/*
 * Waits until a connection is ready to accept (1) or the server stops (0).
 * The accept thread must not block in accept(2) itself: the only way to wake
 * it there is shutdown() on the listening socket, and a socket inherited
 * from systemd is shared with PID 1, which then sees POLLHUP, fails the
 * socket unit and refuses every later connection, restarts included.
 */
static int wait_acceptable(struct server *srv)
{
    struct pollfd fds[2] = {
        { .fd = srv->listen_fd, .events = POLLIN },
        { .fd = srv->wake[0], .events = POLLIN },
    };
    for (;;) {
        if (atomic_load(&srv->stopping))
            return 0;
        int rc = poll(fds, 2, -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc > 0 && fds[1].revents)
            return 0;
        return 1; /* readable, or an error that accept will report */
    }
}

/* Returns an accepted request, or NULL once stopping. */
static struct job *accept_job(struct server *srv)
{
    while (wait_acceptable(srv)) {
        struct job *job = calloc(1, sizeof *job);
        if (!job) {
            log_error("out of memory accepting a request");
            pause_ms(100);
            continue;
        }
        job->srv = srv;
        FCGX_InitRequest(&job->req, srv->listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
        int rc = FCGX_Accept_r(&job->req);
        if (rc >= 0) {
            job->no = ++srv->accepted;
            return job;
        }
        FCGX_Finish_r(&job->req);
        free(job);
        if (!atomic_load(&srv->stopping)) {
            /* EMFILE and friends pass; back off rather than spin. */
            log_warn("accept failed: %s", strerror(-rc));
            pause_ms(100);
        }
    }
    return NULL;
}

static unsigned drain(struct server *srv)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DRAIN_SECONDS;
    pthread_mutex_lock(&srv->lock);
    while (srv->active > 0 &&
           pthread_cond_timedwait(&srv->idle, &srv->lock, &until) != ETIMEDOUT)
        ;
    unsigned left = srv->active;
    pthread_mutex_unlock(&srv->lock);
    return left;
}

unsigned server_run(struct server *srv)
{
    struct job *job;
    while ((job = accept_job(srv)) != NULL)
        start_request(srv, job);
    unsigned left = drain(srv);
    if (left > 0)
        log_warn("%u request threads still running after %d s", left, DRAIN_SECONDS);
    return left;
}

void server_stop(struct server *srv)
{
    atomic_store(&srv->stopping, 1);
    hub_close(srv->app->hub);
    /* Wakes the accept thread's poll(). */
    ssize_t n;
    do
        n = write(srv->wake[1], "", 1);
    while (n < 0 && errno == EINTR);
    /* A socket of our own also refuses new connections at once, so nginx
     * answers 502 now rather than after the drain. Never an inherited one:
     * see wait_acceptable(). */
    if (srv->app->cfg->listen)
        shutdown(srv->listen_fd, SHUT_RDWR);
}
