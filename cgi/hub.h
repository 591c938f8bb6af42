/*
 * hub: topics, ids, history and who wants what. A publisher hands the hub an
 * event for one or more topics; the hub gives it an id, renders its frame
 * once, keeps it in a ring of recent events (the history) and wakes only the
 * subscribers of those topics. Each subscriber follows the ring with its own
 * cursor, so a slow one never holds up the publisher or anyone else.
 *
 * The hub knows nothing about FastCGI or threads. How a frame reaches a
 * client is the delivery side's business; the hub only calls the wake
 * function a subscriber gave it, then the subscriber collects its frames with
 * hub_next() whenever it likes.
 */
#ifndef SSE_HUB_H
#define SSE_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "strbuf.h"

/* An immutable rendered frame, shared by every subscriber that sends it. */
struct hub_frame {
    _Atomic unsigned refs;
    size_t len;
    char bytes[];
};

/* The event type the hub uses for its "events may be missing" signal. */
#define HUB_GAP_TYPE "gap"

struct hub_limits {
    size_t history;          /* events kept (at least 1) */
    size_t max_subscribers;  /* hub_subscribe answers HUB_FULL past it */
    size_t max_topics;       /* per subscriber and per event */
    size_t history_bytes;    /* the kept frames' bytes at most (0: no bound) */
};

enum hub_status {
    HUB_OK = 0,
    HUB_BAD_EVENT,       /* the frame module refused it: see frame_status */
    HUB_NO_TOPIC,
    HUB_BAD_TOPIC,
    HUB_TOO_MANY_TOPICS,
    HUB_RESERVED_TYPE,
    HUB_FULL,
    HUB_CLOSED,
    HUB_NO_MEMORY,
    HUB_TOO_LARGE,       /* the frame alone is over limits.history_bytes */
};

const char *hub_status_str(enum hub_status st);

struct hub *hub_new(const struct hub_limits *limits);

/* Are these topics acceptable (count within limits, every name valid)? */
enum hub_status hub_check_topics(const struct hub *hub, const struct sse_str *topics, size_t n);
void hub_free(struct hub *hub);

struct hub_message {
    const struct sse_str *topics;
    size_t ntopics;
    struct sse_event event;  /* event.id: the publisher's own id, or absent */
};

/*
 * Publishes msg. Without an id of its own, the event gets the hub's next id:
 * the worker's start time in microseconds plus a counter, so ids keep
 * increasing across restarts. The id goes to *id_out. On HUB_BAD_EVENT,
 * *frame_st says what was wrong.
 */
enum hub_status hub_publish(struct hub *hub, const struct hub_message *msg,
                            struct strbuf *id_out, enum frame_status *frame_st);

/* Called with the hub's lock held: must only flag and signal, never block. */
typedef void (*hub_wake_fn)(void *ctx);

struct hub_subscription {
    const struct sse_str *topics;
    size_t ntopics;
    const char *last_event_id;  /* resume after this id; NULL: only new events */
    hub_wake_fn wake;
    void *wake_ctx;
};

struct hub_sub;

/*
 * Subscribes. With a last_event_id found in the history, the subscriber
 * first gets every later kept event for its topics, then live ones, with no
 * gap and no duplicate. With an id not in the history (older, from before a
 * restart, or unknown), it first gets a "gap" event, then everything kept.
 */
enum hub_status hub_subscribe(struct hub *hub, const struct hub_subscription *req,
                              struct hub_sub **out);

enum hub_next {
    HUB_NEXT_FRAME,   /* *frame holds a reference: send, then hub_frame_release() */
    HUB_NEXT_NONE,    /* nothing new: wait for a wake-up */
    HUB_NEXT_CLOSED,  /* the hub is shutting down */
    HUB_NEXT_LAGGED,  /* fell out of the history: end the stream, the client resumes */
};

enum hub_next hub_next(struct hub *hub, struct hub_sub *sub, struct hub_frame **frame);
void hub_unsubscribe(struct hub *hub, struct hub_sub *sub);

void hub_frame_release(struct hub_frame *frame);

struct hub_totals {
    size_t subscribers;
    size_t topics;
    size_t kept;         /* events in the history */
    size_t kept_bytes;   /* their frames' bytes */
    uint64_t published;
    uint64_t lagged;     /* subscribers dropped for falling behind */
};

struct hub_topic_info {
    const char *name;
    size_t subscribers;
    uint64_t published;
};

/* Totals, and fn (if not NULL) for each live topic, under one lock. */
void hub_report(struct hub *hub, struct hub_totals *totals,
                void (*fn)(void *ctx, const struct hub_topic_info *), void *ctx);

size_t hub_subscribers(struct hub *hub);

/* Wakes every subscriber (hub_next answers HUB_NEXT_CLOSED) and refuses publishes. */
void hub_close(struct hub *hub);

#endif
