#include "broker.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "broker_impl.h"
#include "log.h"
#include "monotime.h"
#include "redis_conn.h"

/* The publish connection's reconnect backoff: short, so that publishing
 * resumes soon after Redis does; while it runs, publishes fail at once. */
#define PUB_BACKOFF_MIN_MS 100
#define PUB_BACKOFF_MAX_MS 1000
/* How long a publish waits to see its event in the local hub (then it
 * answers all the same: the event is stored, every worker will have it). */
#define APPLIED_WAIT_MS 1000

void broker_count_error(struct broker *b)
{
    pthread_mutex_lock(&b->lock);
    b->errors++;
    pthread_mutex_unlock(&b->lock);
}

static int init_sync(struct broker *b)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int failed = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
                 pthread_cond_init(&b->changed, &attr) != 0;
    pthread_condattr_destroy(&attr);
    if (failed)
        return -1;
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        pthread_cond_destroy(&b->changed);
        return -1;
    }
    if (pthread_mutex_init(&b->pub_lock, NULL) != 0) {
        pthread_mutex_destroy(&b->lock);
        pthread_cond_destroy(&b->changed);
        return -1;
    }
    return 0;
}

static void fini_sync(struct broker *b)
{
    pthread_mutex_destroy(&b->pub_lock);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->changed);
}

struct broker *broker_start(const struct broker_settings *s, struct hub *hub)
{
    struct broker *b = calloc(1, sizeof *b);
    const char *why = b ? broker_url_parse(s->url, &b->addr) : "out of memory";
    if (!why && !(b->key = strdup(s->key)))
        why = "out of memory";
    if (!why && init_sync(b) != 0)
        why = "cannot create locks";
    if (why) {
        log_error("broker: cannot start: %s", why);
        if (b)
            free(b->key);
        free(b);
        return NULL;
    }
    broker_url_describe(&b->addr, b->where, sizeof b->where);
    b->history = s->history;
    b->hub = hub;
    b->follow_fd = -1;
    if (pthread_create(&b->follower, NULL, broker_follow, b) != 0) {
        log_error("broker: cannot start the follower thread");
        fini_sync(b);
        free(b->key);
        free(b);
        return NULL;
    }
    log_info("broker: events go through the Redis stream '%s' at %s", b->key, b->where);
    return b;
}

void broker_stop(struct broker *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    /* Ends an XREAD BLOCK (or any read) at once: the follower sees EOF. */
    if (b->follow_fd >= 0)
        shutdown(b->follow_fd, SHUT_RDWR);
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->follower, NULL);
    if (b->pub)
        redisFree(b->pub);
    fini_sync(b);
    free(b->key);
    free(b);
}

/*
 * With pub_lock held. An idle connection has nothing to read: if it polls
 * readable, Redis closed it (a restart) and a command would fail after it
 * was sent, leaving the publisher unsure whether it was stored.
 */
static int pub_alive(struct broker *b)
{
    struct pollfd p = { .fd = b->pub->fd, .events = POLLIN };
    int n = poll(&p, 1, 0);
    return n == 0 || (n < 0 && errno == EINTR);
}

static void pub_drop(struct broker *b)
{
    redisFree(b->pub);
    b->pub = NULL;
}

/* With pub_lock held: a usable publish connection, or -1 (during backoff too). */
static int pub_ready(struct broker *b)
{
    if (b->pub && pub_alive(b))
        return 0;
    if (b->pub)
        pub_drop(b);
    struct timespec now = monotime_now();
    if (b->pub_backoff_ms && monotime_before(&now, &b->pub_retry_at))
        return -1;
    char why[200];
    b->pub = redis_conn_open(&b->addr, BROKER_CONNECT_MS, BROKER_COMMAND_MS, why, sizeof why);
    if (b->pub) {
        b->pub_backoff_ms = 0;
        return 0;
    }
    /* The follower logs the state change; this is the same outage. */
    log_debug("broker: publish connection to %s: %s", b->where, why);
    broker_count_error(b);
    b->pub_backoff_ms = b->pub_backoff_ms ? b->pub_backoff_ms * 2 : PUB_BACKOFF_MIN_MS;
    if (b->pub_backoff_ms > PUB_BACKOFF_MAX_MS)
        b->pub_backoff_ms = PUB_BACKOFF_MAX_MS;
    b->pub_retry_at = monotime_in_ms(b->pub_backoff_ms);
    return -1;
}

/* One command on the publish connection; NULL if it could not be run. */
static redisReply *pub_command(struct broker *b, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = NULL;
    pthread_mutex_lock(&b->pub_lock);
    if (pub_ready(b) == 0) {
        r = redisCommandArgv(b->pub, argc, argv, lens);
        if (!r) {
            log_debug("broker: publish connection to %s: %s", b->where, b->pub->errstr);
            broker_count_error(b);
            pub_drop(b);
        }
    }
    pthread_mutex_unlock(&b->pub_lock);
    return r;
}

/*
 * Waits (at most wait_ms) until the follower has applied id; 0 if it has.
 * With while_connected, gives up as soon as the follower is not connected
 * (a publish need not wait for an outage); a resume waits all the same, for
 * a starting worker's follower that has yet to connect.
 */
static int wait_applied(struct broker *b, const struct broker_id *id, unsigned wait_ms,
                        int while_connected)
{
    struct timespec deadline = monotime_in_ms((long)wait_ms);
    int timed_out = 0;
    pthread_mutex_lock(&b->lock);
    while (!b->stopping && !timed_out && (b->connected || !while_connected) &&
           !(b->positioned && broker_id_cmp(&b->applied, id) >= 0))
        timed_out = pthread_cond_timedwait(&b->changed, &b->lock, &deadline) == ETIMEDOUT;
    int done = b->positioned && broker_id_cmp(&b->applied, id) >= 0;
    pthread_mutex_unlock(&b->lock);
    return done ? 0 : -1;
}

/* Is delivery behind? Counts the refusal if so. */
static int stalled(struct broker *b)
{
    pthread_mutex_lock(&b->lock);
    int s = b->stalled;
    b->behind += (unsigned long long)s;
    pthread_mutex_unlock(&b->lock);
    return s;
}

/*
 * The log keeps --history events, and at least BROKER_MIN_LOG: besides the
 * replay it buffers events for a worker whose delivery is behind for a
 * moment, which a tiny history (1..20 events, as in tests) would trim
 * before that worker's follower read them.
 */
static size_t log_length(size_t history)
{
    return history > BROKER_MIN_LOG ? history : BROKER_MIN_LOG;
}

/* The answer to a good XADD: the id, once the event is in the local hub. */
static enum hub_status stored(struct broker *b, const struct hub_message *msg,
                              const redisReply *r, struct strbuf *id_out)
{
    struct broker_id sid;
    if (broker_id_parse(r->str, r->len, &sid) != 0)
        return HUB_BROKER_DOWN; /* not Redis as we know it */
    const struct sse_str own = msg->event.id;
    if (id_out && (own.ptr ? strbuf_append(id_out, own.ptr, own.len)
                           : strbuf_append(id_out, r->str, r->len)) != 0)
        return HUB_NO_MEMORY; /* stored all the same: it will be delivered */
    /* As without Redis, a publisher that gets its answer finds the event
     * in this worker's history: /stats counts it, a resume from it works,
     * and the 409 for an own id already in the history holds on this
     * worker. The follower is usually there within a millisecond. */
    if (wait_applied(b, &sid, APPLIED_WAIT_MS, 1) != 0)
        log_debug("broker: %s not yet followed after %d ms", r->str, APPLIED_WAIT_MS);
    return HUB_OK;
}

enum hub_status broker_publish(struct broker *b, struct hub *hub, const struct hub_message *msg,
                               struct strbuf *id_out, enum frame_status *frame_st)
{
    enum frame_status ignored;
    frame_st = frame_st ? frame_st : &ignored;
    if (!b)
        return hub_publish(hub, msg, id_out, frame_st);
    /* Whatever a hub would refuse is refused before it is stored, so every
     * worker's hub takes every entry. */
    enum hub_status st = hub_check_event(hub, msg, BROKER_ID_MAX - 1, frame_st);
    if (st != HUB_OK)
        return st;
    /* Back-pressure, as without Redis: while this worker's delivery is too
     * far behind to take the log's next event, its publishers wait. Other
     * workers' publishes still go in; the log holds them meanwhile. */
    if (stalled(b))
        return HUB_BEHIND;
    struct broker_xadd x;
    if (broker_xadd_init(&x, b->key, log_length(b->history), msg) != 0)
        return HUB_NO_MEMORY;
    redisReply *r = pub_command(b, x.argc, x.argv, x.lens);
    if (r && r->type == REDIS_REPLY_STRING) {
        st = stored(b, msg, r, id_out);
    } else {
        if (r) { /* Redis answered, but no: a full memory, a wrong key type */
            log_warn("broker: XADD refused by %s: %.*s", b->where, (int)r->len,
                     r->str ? r->str : "unexpected reply");
            broker_count_error(b);
        }
        st = HUB_BROKER_DOWN;
    }
    freeReplyObject(r);
    broker_xadd_free(&x);
    return st;
}

/* The newest id in the log: 0, 1 for an empty log, -1 when Redis is not there. */
static int log_end(struct broker *b, struct broker_id *end)
{
    const char *argv[] = { "XREVRANGE", b->key, "+", "-", "COUNT", "1" };
    redisReply *r = pub_command(b, 6, argv, NULL);
    int rc = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 0)
        rc = 1;
    else if (r && r->type == REDIS_REPLY_ARRAY && r->element[0]->type == REDIS_REPLY_ARRAY &&
             r->element[0]->elements == 2 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
        rc = broker_id_parse(r->element[0]->element[0]->str, r->element[0]->element[0]->len, end);
    freeReplyObject(r);
    return rc;
}

void broker_catch_up(struct broker *b, unsigned wait_ms)
{
    struct broker_id end;
    if (b && log_end(b, &end) == 0)
        wait_applied(b, &end, wait_ms, 0);
}

int broker_id_reserved(const char *id, size_t n)
{
    struct broker_id ignored;
    return broker_id_parse(id, n, &ignored) == 0;
}

static unsigned long long now_wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (unsigned long long)t.tv_sec * 1000ULL + (unsigned long long)t.tv_nsec / 1000000ULL;
}

void broker_report(struct broker *b, struct broker_info *out)
{
    memset(out, 0, sizeof *out);
    out->state = "off";
    if (!b)
        return;
    unsigned long long now = now_wall_ms();
    pthread_mutex_lock(&b->lock);
    out->state = b->connected ? "connected" : "disconnected";
    out->reconnects = b->reconnects;
    out->errors = b->errors;
    out->followed = b->followed;
    out->behind = b->behind;
    out->missed = b->missed;
    /* Stream ids start with Redis' clock in ms: the age of the newest
     * applied entry is how far this worker is behind while it has more to read. */
    if (b->positioned && !b->caught_up && b->applied.ms && now > b->applied.ms)
        out->lag_ms = now - b->applied.ms;
    if (b->positioned && b->applied.ms)
        broker_id_format(&b->applied, out->last_id);
    pthread_mutex_unlock(&b->lock);
}
