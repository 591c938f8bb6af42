/*
 * The follower thread: reads the shared log and publishes every entry into
 * the local hub, in the log's order, with the log's ids.
 *
 * One thread with a blocking connection, rather than hiredis' async API in
 * the delivery loops: it has exactly one thing to wait for (the next
 * entries), and it hands them to the hub as any publisher does; a blocked
 * XREAD costs a thread, not a loop's latency.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker_impl.h"
#include "log.h"
#include "monotime.h"
#include "redis_conn.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define BEHIND_PAUSE_MS 10

struct follow {
    struct broker *b;
    redisContext *c;
    char why[200];      /* why the connection ended */
    int hub_closed;
    int announced;      /* this connection has answered a read: "connected" logged */
    int logged_down;    /* the outage is logged */
    struct broker_tally tally;
};

static int stopping(struct broker *b)
{
    pthread_mutex_lock(&b->lock);
    int s = b->stopping;
    pthread_mutex_unlock(&b->lock);
    return s;
}

/* Sleeps ms (0: until the stop), or less if stopped; 1 if stopping. */
static int wait_stop(struct broker *b, unsigned ms)
{
    struct timespec deadline = monotime_in_ms((long)ms);
    pthread_mutex_lock(&b->lock);
    int timed_out = 0;
    while (!b->stopping && !timed_out)
        timed_out = ms ? pthread_cond_timedwait(&b->changed, &b->lock, &deadline) == ETIMEDOUT
                       : pthread_cond_wait(&b->changed, &b->lock) != 0;
    int s = b->stopping;
    pthread_mutex_unlock(&b->lock);
    return s;
}

/* A connection is open: make it stoppable (broker_stop shuts its socket). */
static int register_fd(struct broker *b, redisContext *c)
{
    pthread_mutex_lock(&b->lock);
    int s = b->stopping;
    if (!s)
        b->follow_fd = c->fd;
    pthread_mutex_unlock(&b->lock);
    return s ? -1 : 0;
}

/*
 * The connection has answered its first read: only now is it "connected"
 * (counted and logged once). A Redis that accepts the connection but
 * refuses the commands (a password missing, a key of another type) stays
 * one outage, logged once, not a connect and a loss every few seconds.
 */
static void announce(struct follow *f)
{
    struct broker *b = f->b;
    if (f->announced)
        return;
    pthread_mutex_lock(&b->lock);
    b->connected = 1;
    b->caught_up = 0;
    if (b->ever_connected)
        b->reconnects++;
    b->ever_connected = 1;
    pthread_mutex_unlock(&b->lock);
    log_info("broker: connected to Redis at %s", b->where);
    f->announced = 1;
    f->logged_down = 0;
}

/* The connection (or a connect) failed; logged only when the state changes. */
static void note_down(struct follow *f)
{
    struct broker *b = f->b;
    pthread_mutex_lock(&b->lock);
    b->connected = 0;
    b->follow_fd = -1;
    b->stalled = 0; /* publishes now fail on the log itself: say so (503 broker) */
    b->errors++;
    pthread_cond_broadcast(&b->changed); /* publishes waiting for it give up */
    pthread_mutex_unlock(&b->lock);
    if (f->announced)
        log_warn("broker: lost Redis at %s: %s; reconnecting", b->where, f->why);
    else if (!f->logged_down)
        log_warn("broker: cannot reach Redis at %s: %s; retrying", b->where, f->why);
    else
        log_debug("broker: still cannot reach Redis at %s: %s", b->where, f->why);
    f->announced = 0;
    f->logged_down = 1;
}

/* While set, this worker's publishes are refused as without Redis: from
 * the first HUB_BEHIND until the follower has caught up with the log, so
 * that its publishers cannot run further ahead of its delivery. */
static void set_stalled(struct broker *b, int stalled)
{
    pthread_mutex_lock(&b->lock);
    b->stalled = stalled;
    pthread_mutex_unlock(&b->lock);
}

/* Publishes one entry; HUB_BEHIND is retried: the log keeps it meanwhile. */
static void apply(struct follow *f, const redisReply *r, int *bad)
{
    struct broker *b = f->b;
    struct broker_entry e;
    int rc = broker_entry_read(r, &e);
    if (rc < 0) {
        *bad = 1;
        broker_entry_free(&e);
        return;
    }
    enum hub_status st = HUB_BAD_EVENT;
    enum frame_status fst = FRAME_OK;
    if (rc == 0) {
        /* hub_publish has waited --publish-wait-ms already; the pause keeps
         * a wait of 0 from spinning. */
        while ((st = hub_publish(b->hub, &e.msg, NULL, &fst)) == HUB_BEHIND) {
            set_stalled(b, 1); /* until the follower has caught up with the log */
            if (wait_stop(b, BEHIND_PAUSE_MS))
                break;
        }
    }
    if (st == HUB_CLOSED) {
        f->hub_closed = 1;
    } else if (st != HUB_OK && st != HUB_BEHIND) {
        log_warn("broker: entry %s of '%s' skipped: %s", e.sid_text, b->key,
                 rc ? "not an event" : st == HUB_BAD_EVENT ? frame_status_str(fst)
                                                           : hub_status_str(st));
    }
    if (st != HUB_CLOSED && st != HUB_BEHIND) {
        f->tally.count += (unsigned long long)f->tally.known;
        pthread_mutex_lock(&b->lock);
        b->applied = e.sid;
        b->positioned = 1;
        b->followed += st == HUB_OK;
        pthread_mutex_unlock(&b->lock);
    }
    broker_entry_free(&e);
}

/* Entries in order (from the end with reverse set); wakes resumers after. */
static int apply_all(struct follow *f, const redisReply *list, int reverse)
{
    int bad = 0;
    for (size_t i = 0; i < list->elements && !bad && !f->hub_closed && !stopping(f->b); i++)
        apply(f, list->element[reverse ? list->elements - 1 - i : i], &bad);
    pthread_mutex_lock(&f->b->lock);
    pthread_cond_broadcast(&f->b->changed);
    pthread_mutex_unlock(&f->b->lock);
    if (bad)
        snprintf(f->why, sizeof f->why, "malformed stream entry");
    return bad ? -1 : 0;
}

/* A first connection: the log's recent tail, so that replay works at once. */
static int load_tail(struct follow *f)
{
    struct broker *b = f->b;
    char count[24];
    snprintf(count, sizeof count, "%zu", b->history);
    const char *argv[] = { "XREVRANGE", b->key, "+", "-", "COUNT", count };
    redisReply *r = redisCommandArgv(f->c, 6, argv, NULL);
    int rc = -1;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        rc = apply_all(f, r, 1);
        pthread_mutex_lock(&b->lock);
        if (rc == 0 && !b->positioned) { /* an empty log: everything from its start */
            b->applied = (struct broker_id){ 0, 0 };
            b->positioned = 1;
        }
        pthread_mutex_unlock(&b->lock);
        if (rc == 0)
            log_info("broker: loaded %zu events from the log", r->elements);
    } else {
        redis_conn_error(f->c, r, f->why, sizeof f->why);
    }
    freeReplyObject(r);
    return rc;
}

/* The entries of an XREAD reply: [[key, [entry...]]]; NULL if malformed. */
static const redisReply *xread_entries(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2 ||
        r->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    return r->element[0]->element[1];
}

/* One XREAD BLOCK from the last applied id; -1 when the connection is done. */
static int read_more(struct follow *f)
{
    struct broker *b = f->b;
    char from[BROKER_ID_MAX], block[16], batch[16];
    pthread_mutex_lock(&b->lock);
    broker_id_format(&b->applied, from);
    pthread_mutex_unlock(&b->lock);
    snprintf(block, sizeof block, "%d", BROKER_BLOCK_MS);
    snprintf(batch, sizeof batch, "%d", BROKER_BATCH);
    /* A new connection's first read does not block: it answers at once,
     * and the connection counts as up (announce) without waiting a second. */
    const char *blocking[] = { "XREAD", "COUNT", batch, "BLOCK", block, "STREAMS", b->key, from };
    const char *at_once[] = { "XREAD", "COUNT", batch, "STREAMS", b->key, from };
    const char *info[] = { "XINFO", "STREAM", b->key };
    redisReply *counts = NULL, *r = NULL;
    /* Pipelined: the log's counters, then the read (broker_tally.c). */
    if (redisAppendCommandArgv(f->c, 3, info, NULL) == REDIS_OK &&
        (f->announced ? redisAppendCommandArgv(f->c, 8, blocking, NULL)
                      : redisAppendCommandArgv(f->c, 6, at_once, NULL)) == REDIS_OK &&
        redisGetReply(f->c, (void **)&counts) == REDIS_OK)
        redisGetReply(f->c, (void **)&r);
    broker_tally_update(b, &f->tally, counts);
    freeReplyObject(counts);
    int rc = 0;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        redis_conn_error(f->c, r, f->why, sizeof f->why);
        rc = -1;
    } else if (r->type == REDIS_REPLY_NIL) { /* nothing new within the block time */
        pthread_mutex_lock(&b->lock);
        b->caught_up = 1;
        b->stalled = 0;
        pthread_mutex_unlock(&b->lock);
    } else {
        const redisReply *entries = xread_entries(r);
        rc = entries ? apply_all(f, entries, 0) : -1;
        if (!entries)
            snprintf(f->why, sizeof f->why, "unexpected XREAD reply");
        pthread_mutex_lock(&b->lock);
        b->caught_up = entries && entries->elements < BROKER_BATCH;
        b->stalled &= !b->caught_up;
        pthread_mutex_unlock(&b->lock);
    }
    freeReplyObject(r);
    return rc;
}

/* Follows over one connection until it fails or the worker stops. */
static void follow_connection(struct follow *f)
{
    struct broker *b = f->b;
    pthread_mutex_lock(&b->lock);
    int positioned = b->positioned;
    pthread_mutex_unlock(&b->lock);
    if (!positioned && load_tail(f) != 0)
        return;
    while (!f->hub_closed && !stopping(b) && read_more(f) == 0)
        announce(f);
}

void *broker_follow(void *arg)
{
    struct follow f = { .b = arg };
    struct broker *b = f.b;
    unsigned backoff = BACKOFF_MIN_MS;
    while (!stopping(b) && !f.hub_closed) {
        f.c = redis_conn_open(&b->addr, BROKER_CONNECT_MS, BROKER_BLOCK_MS + BROKER_COMMAND_MS,
                              f.why, sizeof f.why);
        if (f.c && register_fd(b, f.c) != 0) {
            redisFree(f.c);
            break;
        }
        if (f.c) {
            follow_connection(&f);
            if (f.announced)
                backoff = BACKOFF_MIN_MS;
            pthread_mutex_lock(&b->lock);
            b->follow_fd = -1; /* before the close: broker_stop must not shut a reused fd */
            pthread_mutex_unlock(&b->lock);
            redisFree(f.c);
            if (stopping(b) || f.hub_closed)
                break;
        }
        note_down(&f);
        if (wait_stop(b, backoff))
            break;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    /* The hub closed under us: the worker is stopping; wait for broker_stop. */
    if (f.hub_closed)
        wait_stop(b, 0);
    return NULL;
}
