/* sse-worker: a FastCGI program that streams Server-Sent Events behind nginx. */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hub.h"
#include "listener.h"
#include "log.h"
#include "server.h"
#include "ticker.h"

static void ignore_signal(int sig)
{
    (void)sig;
}

/*
 * SIGPIPE would kill the process on a write to a closed connection: ignore
 * it and let the write report EPIPE. SIGTERM and SIGINT are blocked in every
 * thread and taken by one thread with sigwait(). They get a handler first,
 * because FCGX_Init installs its own flag-only SIGTERM handler when it finds
 * the default one, and a threaded worker would then never stop.
 */
static int setup_signals(sigset_t *stop_signals)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = ignore_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigemptyset(stop_signals);
    sigaddset(stop_signals, SIGTERM);
    sigaddset(stop_signals, SIGINT);
    return pthread_sigmask(SIG_BLOCK, stop_signals, NULL);
}

struct stopper {
    sigset_t signals;
    struct server *srv;
};

static void *wait_for_stop(void *arg)
{
    struct stopper *st = arg;
    int sig = 0;
    sigwait(&st->signals, &sig);
    log_info("%s received: closing every stream", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(st->srv);
    return NULL;
}

static int serve(const struct config *cfg, int listen_fd, struct stopper *st)
{
    struct hub *hub = hub_new(cfg->history);
    struct server *srv = hub ? server_new(listen_fd, hub, cfg) : NULL;
    int err = 0;
    struct ticker *ticker = srv ? ticker_start(hub, cfg->tick_ms, &err) : NULL;
    pthread_t stop_thread;
    st->srv = srv;
    if (!srv || err != 0 || pthread_create(&stop_thread, NULL, wait_for_stop, st) != 0) {
        log_error("cannot start: out of memory or threads");
        ticker_stop(ticker);
        server_free(srv);
        hub_free(hub);
        return 1;
    }
    unsigned left = server_run(srv);
    pthread_join(stop_thread, NULL);
    ticker_stop(ticker);
    if (left > 0)
        return 0; /* streams still hold the hub: exit without freeing it */
    server_free(srv);
    hub_free(hub);
    log_info("stopped cleanly");
    return 0;
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
    struct stopper st = { .srv = NULL };
    if (setup_signals(&st.signals) != 0 || FCGX_Init() != 0) {
        log_error("cannot initialise signals or libfcgi");
        return 1;
    }
    int fd = listener_open(&cfg);
    if (fd < 0)
        return 1;
    log_info("sse-worker %s: heartbeat %u s, retry %lu ms, history %u",
             SSE_VERSION, cfg.heartbeat_s, cfg.retry_ms, cfg.history);
    int rc = serve(&cfg, fd, &st);
    listener_close(fd, &cfg);
    return rc;
}
