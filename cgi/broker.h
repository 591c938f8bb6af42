/*
 * broker: the optional shared event log (--redis URL) that lets many
 * workers serve one stream of events.
 *
 * Without it the worker publishes into its own hub, as always. With it:
 * - a publish is checked as the hub would check it, then appended to a
 *   Redis stream (XADD, binary-safe argv form, broker_entry.h) over one
 *   publish connection; the publisher's answer waits for Redis to store it
 *   (and, at most a second, for this worker's own hub to have it), and its
 *   id is the stream id ("1733512345678-0") or the publisher's own;
 * - one follower thread per worker, on a connection of its own, reads the
 *   stream (XREAD BLOCK from the last id it applied) and publishes each
 *   entry into the local hub with its final id, so history, replay, lagging
 *   and fan-out stay the hub's. A starting follower first loads the log's
 *   recent tail (the hub's --history), so a restarted worker can replay.
 * - Redis down: publishes answer HUB_BROKER_DOWN (503), the follower
 *   reconnects with backoff and goes on from its last id; each state change
 *   is logged once.
 */
#ifndef SSE_BROKER_H
#define SSE_BROKER_H

#include <stddef.h>

#include "broker_entry.h"
#include "hub.h"
#include "strbuf.h"

#define BROKER_DEFAULT_KEY "sse:events"

struct broker;

struct broker_settings {
    const char *url;     /* as config.c accepted it (broker_url.h) */
    const char *key;     /* the stream's key */
    size_t history;      /* MAXLEN ~ of the stream (at least 1000), and the tail loaded at start */
};

/* Starts the follower thread (Redis may still be down: it keeps trying).
 * NULL after logging why when the thread or memory is missing. */
struct broker *broker_start(const struct broker_settings *s, struct hub *hub);
/* Stops and joins the follower (promptly: its socket is shut down) and
 * closes both connections. Call hub_close() first, so a follower waiting
 * for delivery to catch up returns at once. NULL is fine. */
void broker_stop(struct broker *b);

/*
 * Publishes msg: with b NULL straight into the hub (hub_publish), else
 * through the log as above. *id_out gets the event's id (may be NULL).
 */
enum hub_status broker_publish(struct broker *b, struct hub *hub, const struct hub_message *msg,
                               struct strbuf *id_out, enum frame_status *frame_st);

/*
 * For a resume with an id this worker's hub does not hold (yet): asks Redis
 * for the log's newest id and waits, at most wait_ms, until the follower
 * has applied it. A browser whose worker died may be ahead of this one.
 */
void broker_catch_up(struct broker *b, unsigned wait_ms);

/* Is id (n bytes) shaped like a stream id? Publishers may not choose one. */
int broker_id_reserved(const char *id, size_t n);

struct broker_info {
    const char *state;              /* "off", "connected", "disconnected" */
    unsigned long long reconnects;  /* connections made after a loss */
    unsigned long long errors;      /* failed connects and commands, both connections */
    unsigned long long followed;    /* entries applied to the hub */
    unsigned long long behind;      /* publishes refused: this worker's delivery behind */
    unsigned long long missed;      /* entries trimmed from the log before it read them */
    unsigned long long lag_ms;      /* newest applied entry's age while behind the log; 0 caught up */
    char last_id[BROKER_ID_MAX];    /* last stream id applied ("" none) */
};

/* b NULL: state "off", all zero. */
void broker_report(struct broker *b, struct broker_info *out);

#endif
