#include "ticker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "monotime.h"

#define MULTILINE_EVERY 5

struct ticker {
    struct hub *hub;
    struct broker *broker;  /* NULL: straight into the hub */
    unsigned long period_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
};

static void iso_time_now(char *out, size_t n)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, n - len, ".%03ldZ", now.tv_nsec / 1000000L);
}

static void publish_tick(struct ticker *t, unsigned long seq)
{
    char when[40], json[160];
    iso_time_now(when, sizeof when);
    int n = snprintf(json, sizeof json, "{\"time\":\"%s\",\"seq\":%lu,\"clients\":%zu}",
                     when, seq, hub_subscribers(t->hub));
    struct sse_str topic = SSE_STR(TICKER_TOPIC);
    struct hub_message tick = {
        .topics = &topic, .ntopics = 1,
        .event = { .type = SSE_STR("tick"), .data = { json, (size_t)n } },
    };
    broker_publish(t->broker, t->hub, &tick, NULL, NULL);
    if (seq % MULTILINE_EVERY != 0)
        return;
    char text[160];
    n = snprintf(text, sizeof text,
                 "tick %lu, sent as three data: lines\n"
                 "the browser joins them with LF\n"
                 "into one message event", seq);
    struct hub_message multi = {
        .topics = &topic, .ntopics = 1, .event = { .data = { text, (size_t)n } },
    };
    broker_publish(t->broker, t->hub, &multi, NULL, NULL);
}

/* Ticks keep a fixed cadence: each deadline follows the last, not "now". */
static void *run(void *arg)
{
    struct ticker *t = arg;
    struct timespec next = monotime_now();
    pthread_mutex_lock(&t->lock);
    for (unsigned long seq = 1; !t->stopping; seq++) {
        monotime_add_ms(&next, (long)t->period_ms);
        while (!t->stopping && pthread_cond_timedwait(&t->wake, &t->lock, &next) == 0)
            ; /* woken early without stopping: keep waiting */
        if (t->stopping)
            break;
        pthread_mutex_unlock(&t->lock);
        publish_tick(t, seq);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

static int init_sync(struct ticker *t)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_mutex_init(&t->lock, NULL);
    if (rc != 0)
        pthread_cond_destroy(&t->wake);
    return rc;
}

struct ticker *ticker_start(struct hub *hub, struct broker *broker, unsigned long period_ms,
                            int *error)
{
    *error = 0;
    if (period_ms == 0)
        return NULL;
    struct ticker *t = calloc(1, sizeof *t);
    if (!t || (*error = init_sync(t)) != 0) {
        *error = t ? *error : -1;
        free(t);
        return NULL;
    }
    t->hub = hub;
    t->broker = broker;
    t->period_ms = period_ms;
    if ((*error = pthread_create(&t->thread, NULL, run, t)) != 0) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    log_info("demo ticker: one tick event every %lu ms", period_ms);
    return t;
}

void ticker_stop(struct ticker *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
