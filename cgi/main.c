/* sse-worker: a FastCGI program that streams Server-Sent Events behind nginx. */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
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

static int run(struct app *app, int listen_fd, struct stopper *st)
{
    struct server *srv = server_new(listen_fd, app);
    int err = 0;
    struct ticker *ticker = srv ? ticker_start(app->hub, app->cfg->tick_ms, &err) : NULL;
    pthread_t stop_thread;
    st->srv = srv;
    if (!srv || err != 0 || pthread_create(&stop_thread, NULL, wait_for_stop, st) != 0) {
        log_error("cannot start: out of memory or threads");
        ticker_stop(ticker);
        server_free(srv);
        hub_close(app->hub);
        delivery_stop(app->delivery, 0);
        return 1;
    }
    unsigned left = server_run(srv);
    pthread_join(stop_thread, NULL);
    ticker_stop(ticker);
    /* The hub is closed: each stream gets its goodbye and a clean end. */
    delivery_stop(app->delivery, DELIVERY_GRACE_MS);
    if (left > 0)
        return -1; /* requests still use the hub: exit without freeing it */
    server_free(srv);
    log_info("stopped cleanly");
    return 0;
}

static int serve(const struct config *cfg, int listen_fd, struct stopper *st)
{
    struct stats stats;
    stats_init(&stats);
    struct hub_limits limits = { cfg->history, cfg->max_streams, cfg->max_topics,
                                 cfg->history_bytes, cfg->threads,
                                 (unsigned)cfg->publish_wait_ms };
    struct app app = { .cfg = cfg, .stats = &stats, .hub = hub_new(&limits) };
    char *token = NULL;
    if (app.hub)
        app.delivery = delivery_start(app.hub, &stats, cfg->heartbeat_s, cfg->threads);
    if (!app.delivery || load_token(cfg, &token) != 0) {
        if (app.delivery) {
            hub_close(app.hub);
            delivery_stop(app.delivery, 0);
        }
        hub_free(app.hub);
        return 1;
    }
    app.publish_token = token;
    int rc = run(&app, listen_fd, st);
    if (rc >= 0) {
        hub_free(app.hub);
        free(token);
    }
    return rc > 0 ? 1 : 0;
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
