/* sse-worker: a FastCGI program that streams Server-Sent Events behind nginx. */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "app.h"
#include "auth.h"
#include "broker.h"
#include "config.h"
#include "hub.h"
#include "listener.h"
#include "log.h"
#include "server.h"
#include "ticker.h"

/* How long a stop waits for slow clients to take their last bytes. */
#define DELIVERY_GRACE_MS 2000

static void ignore_signal(int sig)
{
    (void)sig;
}

/*
 * Every signal the worker can be sent, and what it does:
 * - SIGTERM, SIGINT: a clean stop. Blocked in every thread and taken by one
 *   thread with sigwait().
 * - SIGUSR1, SIGUSR2, SIGHUP: nothing (ignored). libfcgi's SIGUSR1 handler
 *   sets a flag after which every libfcgi read and write fails, so the
 *   worker would live on without serving anyone; the worker has no file to
 *   reload on SIGHUP, and must not die of one when its terminal goes away.
 * FCGX_Init installs flag-only handlers for SIGUSR1, SIGPIPE and SIGTERM
 * (Debian's libfcgi even over dispositions set before it), so this runs
 * after FCGX_Init and replaces them all.
 * - SIGPIPE: ignored; a write to a closed connection reports EPIPE instead.
 * - SIGQUIT: left at its default on purpose: it ends the worker with a core
 *   dump, which is what an operator sends it for.
 */
static int setup_signals(sigset_t *stop_signals)
{
    static const int ignored[] = { SIGPIPE, SIGUSR1, SIGUSR2, SIGHUP };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        if (sigaction(ignored[i], &sa, NULL) != 0)
            return -1;
    sa.sa_handler = ignore_signal;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    sigemptyset(stop_signals);
    sigaddset(stop_signals, SIGTERM);
    sigaddset(stop_signals, SIGINT);
    return pthread_sigmask(SIG_BLOCK, stop_signals, NULL);
}

/* The publish token: SSE_PUBLISH_TOKEN, else --publish-token-file. */
static int load_token(const struct config *cfg, char **token)
{
    const char *env = getenv("SSE_PUBLISH_TOKEN");
    *token = NULL;
    if (env && *env)
        *token = strdup(env);
    else if (cfg->token_file && !(*token = auth_read_token_file(cfg->token_file)))
        return -1;
    if (!*token)
        log_warn("no publish token set: only public topics (%s) accept publishes",
                 cfg->public_topics[0] ? cfg->public_topics : "none");
    return 0;
}

/*
 * Everything the worker runs. worker_start() creates the parts in order
 * (each uses only those before it: the hub, the delivery loop that writes
 * its streams, the broker that feeds it from the shared log with --redis,
 * the ticker that publishes to it, the server whose requests use them all,
 * the thread that waits for a stop signal), and
 * worker_teardown() undoes exactly what was created, in reverse. Every part
 * has this one owner.
 */
struct worker {
    struct stats stats;
    struct app app;
    char *token;
    struct access access;       /* private topics and JWTs (access.h) */
    int access_ready;
    struct ticker *ticker;
    struct server *srv;
    sigset_t stop_signals;
    pthread_t stop_thread;
    int stop_thread_started;
};

static void *wait_for_stop(void *arg)
{
    struct worker *w = arg;
    int sig = 0;
    if (sigwait(&w->stop_signals, &sig) != 0)
        return NULL;
    log_info("%s received: closing every stream", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(w->srv);
    return NULL;
}

static int worker_start(struct worker *w, const struct config *cfg, int listen_fd)
{
    struct hub_limits limits = { cfg->history, cfg->max_streams, cfg->max_topics,
                                 cfg->history_bytes, cfg->threads,
                                 (unsigned)cfg->publish_wait_ms };
    struct server_limits server_limits = { cfg->max_requests, cfg->request_timeout_s };
    int err = 0;
    stats_init(&w->stats);
    w->app = (struct app){ .cfg = cfg, .stats = &w->stats };
    if (load_token(cfg, &w->token) != 0)
        return -1;
    w->app.publish_token = w->token;
    if (access_init(&w->access, cfg) != 0)
        return -1;
    w->access_ready = 1;
    w->app.access = &w->access;
    if (!(w->app.hub = hub_new(&limits)) ||
        !(w->app.delivery = delivery_start(w->app.hub, &w->stats, cfg->heartbeat_s, cfg->threads)))
        return -1;
    struct broker_settings broker = { cfg->redis_url, cfg->redis_key, cfg->history };
    if (cfg->redis_url && !(w->app.broker = broker_start(&broker, w->app.hub)))
        return -1;
    w->ticker = ticker_start(w->app.hub, w->app.broker, cfg->tick_ms, &err);
    if (err != 0 || !(w->srv = server_new(listen_fd, &w->app, &server_limits)))
        return -1;
    if (pthread_create(&w->stop_thread, NULL, wait_for_stop, w) != 0)
        return -1;
    w->stop_thread_started = 1;
    return 0;
}

/*
 * In reverse. The server first: once server_run() has returned, no request
 * thread is left to use the rest. Then the ticker, then the hub is closed so
 * that every stream gets its goodbye; the broker stops next (its follower,
 * should it wait for delivery to catch up, is released by the close), and
 * the delivery loop sends the goodbyes and ends the streams (waiting at most
 * grace_ms for slow clients); last the hub.
 */
static void worker_teardown(struct worker *w, int grace_ms)
{
    if (w->stop_thread_started) {
        /* sigwait() is a cancellation point: this ends a stop thread that
         * is still waiting (the server failed to start), and is a no-op on
         * one that has already returned. */
        pthread_cancel(w->stop_thread);
        pthread_join(w->stop_thread, NULL);
    }
    server_free(w->srv);
    ticker_stop(w->ticker);
    if (w->app.delivery)
        hub_close(w->app.hub);
    broker_stop(w->app.broker);
    if (w->app.delivery)
        delivery_stop(w->app.delivery, grace_ms);
    hub_free(w->app.hub);
    if (w->access_ready)
        access_fini(&w->access);
    free(w->token);
}

static int serve(const struct config *cfg, int listen_fd, const sigset_t *stop_signals)
{
    struct worker w = { .stop_signals = *stop_signals };
    int rc = 1;
    if (worker_start(&w, cfg, listen_fd) != 0)
        log_error("cannot start: out of memory or threads");
    else if (server_run(w.srv) >= 0)
        rc = 0;
    worker_teardown(&w, rc == 0 ? DELIVERY_GRACE_MS : 0);
    if (rc == 0)
        log_info("stopped cleanly");
    return rc;
}

/* Descriptors the worker needs besides connections: stdio, the listening
 * socket, pipes, epoll, eventfd, the spare one the server keeps for
 * refusing at exhaustion, and some slack for libraries (ASan, resolver). */
#define FD_BASE_NEED 32

/*
 * Every stream holds a descriptor, and a request in flight two (its
 * connection and the watchdog's dup). The soft limit is often 1024 while
 * the hard one is far higher: raise it. Then fit the stream and request
 * limits under it, so that the stream limit's 503 comes before the
 * descriptors run out and a publish still finds one.
 */
static void fit_to_fd_limit(struct config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            log_info("open files limit raised from %llu to %llu", (unsigned long long)was,
                     (unsigned long long)rl.rlim_cur);
        else if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return;
    }
    /* Each delivery loop holds two more: its epoll set and its eventfd. */
    unsigned long long base = FD_BASE_NEED + 2ULL * cfg->threads;
    unsigned long long room = rl.rlim_cur > base ? rl.rlim_cur - base : 0;
    if (2ULL * cfg->max_requests > room / 2) {
        cfg->max_requests = room / 8 > 0 ? (unsigned)(room / 8) : 1;
        log_warn("only %llu open files allowed: --max-requests lowered to %u",
                 (unsigned long long)rl.rlim_cur, cfg->max_requests);
    }
    room = room > 2ULL * cfg->max_requests ? room - 2ULL * cfg->max_requests : 1;
    if (cfg->max_streams > room) {
        cfg->max_streams = (unsigned)room;
        log_warn("only %llu open files allowed: --max-streams lowered to %u",
                 (unsigned long long)rl.rlim_cur, cfg->max_streams);
    }
}

int main(int argc, char **argv)
{
    struct config cfg;
    switch (config_load(&cfg, argc, argv, stdout, stderr)) {
    case CONFIG_EXIT_OK: return 0;
    case CONFIG_EXIT_USAGE: return 2;
    case CONFIG_RUN: break;
    }
    log_set_level(cfg.log_level);
    sigset_t stop_signals;
    if (FCGX_Init() != 0 || setup_signals(&stop_signals) != 0) {
        log_error("cannot initialise signals or libfcgi");
        return 1;
    }
    fit_to_fd_limit(&cfg);
    int fd = listener_open(&cfg);
    if (fd < 0)
        return 1;
    log_info("sse-worker %s: heartbeat %u s, retry %lu ms, history %u",
             SSE_VERSION, cfg.heartbeat_s, cfg.retry_ms, cfg.history);
    if (log_start() != 0)
        log_warn("no log writer thread: logging may block when stderr does");
    int rc = serve(&cfg, fd, &stop_signals);
    log_stop();
    listener_close(fd, &cfg);
    return rc;
}
