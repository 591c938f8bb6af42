/* broker_impl: what broker.c and broker_follow.c share; no one else. */
#ifndef SSE_BROKER_IMPL_H
#define SSE_BROKER_IMPL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <time.h>

#include "broker.h"
#include "broker_url.h"

/* XREAD BLOCK: short enough for the follower to notice a stop, though
 * broker_stop() also shuts its socket down. */
#define BROKER_BLOCK_MS 1000
#define BROKER_BATCH 256
#define BROKER_CONNECT_MS 1000
/* A command's reply may take this long before the connection counts as lost. */
#define BROKER_COMMAND_MS 2000
/* The fewest events the log keeps (MAXLEN ~), whatever --history says. */
#define BROKER_MIN_LOG 1000

struct broker {
    struct broker_addr addr;
    char where[400];              /* addr for logs, without the password */
    char *key;
    size_t history;
    struct hub *hub;

    pthread_mutex_t lock;         /* everything below up to pub_lock */
    pthread_cond_t changed;       /* applied moved on, or stopping (monotonic clock) */
    int stopping;
    int follow_fd;                /* the follower's socket, -1 none: broker_stop shuts it */
    int connected;
    int ever_connected;
    int positioned;               /* applied is a place in the log */
    struct broker_id applied;     /* last entry applied (or skipped as not an event) */
    int caught_up;                /* the last read found nothing more */
    int stalled;                  /* the hub answers HUB_BEHIND: delivery is behind */
    unsigned long long reconnects, errors, followed;
    unsigned long long behind;    /* publishes refused while stalled */
    unsigned long long missed;    /* entries trimmed before the follower read them */
    pthread_t follower;

    pthread_mutex_t pub_lock;     /* the publish connection, shared by request threads */
    redisContext *pub;
    struct timespec pub_retry_at; /* no new connect before (monotonic) */
    unsigned pub_backoff_ms;
};

void *broker_follow(void *arg);

/* The follower's count of the log's entries (broker_tally.c): its own, no lock. */
struct broker_tally {
    int known;                    /* count is the number of the entry applied last */
    unsigned long long count;
};

/* With the XINFO STREAM reply read just before an XREAD: learns the count,
 * or logs and counts (missed) entries trimmed before they were read. */
void broker_tally_update(struct broker *b, struct broker_tally *t, const redisReply *xinfo);

#endif
