/*
 * hub: topics, ids, history and who wants what. A publisher hands the hub an
 * event for one or more topics; the hub gives it an id, renders its frame
 * once and keeps it in a ring of recent events (the history).
 *
 * Readers (the delivery loops, one thread each) follow the ring: a publish
 * wakes each reader once, not each subscriber, so the hub's lock is held
 * for O(readers) per publish. Each reader then fans the event out to its own
 * subscribers with hub_fan_out(), without the lock: every reader keeps its
 * own per-topic lists. A subscriber that cannot take a frame right away
 * (its socket is full) falls behind and catches up later with hub_next(),
 * following the ring with its own cursor; it lags (and must reconnect) only
 * if an event of its own topics was evicted before it read it.
 *
 * Back-pressure: an event a reader has not fanned out yet is never evicted.
 * A publish that would need to evict one waits (at most publish_wait_ms)
 * for the readers to catch up, and is refused with HUB_BEHIND past that:
 * never accepted only to be lost to everyone.
 *
 * The hub knows nothing about FastCGI or sockets: that is the delivery side.
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
    unsigned readers;        /* delivery loops following the ring (at most HUB_MAX_READERS) */
    unsigned publish_wait_ms; /* how long a publish waits for the readers to catch up */
};

#define HUB_MAX_READERS 64

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
    HUB_BEHIND,          /* delivery has not caught up within publish_wait_ms */
    HUB_UNAVAILABLE,     /* the delivery side cannot take the stream (system resources) */
    HUB_BROKER_DOWN,     /* the shared event log (Redis, broker.h) did not store it */
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

/*
 * Would hub_publish() take msg, once it has an id of id_len bytes (or its
 * own)? The same checks, without publishing: the broker (broker.h) asks
 * before it appends an event to the shared log, which every worker then
 * publishes, so that nothing is stored that a hub would refuse.
 */
enum hub_status hub_check_event(const struct hub *hub, const struct hub_message *msg,
                                size_t id_len, enum frame_status *frame_st);

/* Tells a reader there are new events (or the hub closed); must not block. */
typedef void (*hub_wake_fn)(void *ctx);

/* Registers reader r's wake function (before the first publish). */
void hub_set_reader(struct hub *hub, unsigned r, hub_wake_fn wake, void *ctx);

/*
 * For reader r: the seq of the newest event, or, with *closed set, that the
 * hub is closing. Events after the reader's done mark up to it are to be
 * fanned out, then hub_reader_done() called.
 */
uint64_t hub_reader_todo(struct hub *hub, unsigned r, int *closed);

/*
 * Sends event seq to every subscriber of reader r that wants it and is live:
 * send(owner, frame) returns 0 when the subscriber can take more, anything
 * else when it cannot (it falls behind and catches up with hub_next). Only
 * reader r's thread may call this, between hub_reader_todo and _done.
 */
typedef int (*hub_send_fn)(void *owner, const struct hub_frame *frame);
void hub_fan_out(struct hub *hub, unsigned r, uint64_t seq, hub_send_fn send);

/* Reader r has fanned out every event up to seq: they may be evicted now. */
void hub_reader_done(struct hub *hub, unsigned r, uint64_t seq);

struct hub_subscription {
    const struct sse_str *topics;
    size_t ntopics;
    const char *last_event_id;  /* resume after this id; NULL: only new events */
    unsigned reader;            /* the delivery loop that will serve it */
    void *owner;                /* passed to hub_send_fn */
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

/*
 * Puts a subscription on its reader's per-topic lists: from then on
 * hub_fan_out() reaches it once it has caught up with hub_next(). Only the
 * reader's thread may call this (and hub_unsubscribe once attached).
 */
void hub_attach(struct hub *hub, struct hub_sub *sub);

/*
 * Catching up: the next frame for a subscriber that fell behind (or just
 * subscribed), up to what its reader has fanned out. HUB_NEXT_NONE means it
 * has caught up and hub_fan_out() reaches it again.
 */
enum hub_next {
    HUB_NEXT_FRAME,   /* *frame holds a reference: send, then hub_frame_release() */
    HUB_NEXT_NONE,    /* caught up: live again */
    HUB_NEXT_CLOSED,  /* the hub is shutting down */
    HUB_NEXT_LAGGED,  /* fell out of the history: end the stream, the client resumes */
};

enum hub_next hub_next(struct hub *hub, struct hub_sub *sub, struct hub_frame **frame);

/*
 * hub_next() up to max times under one lock: frames[0..*n) hold references.
 * Returns HUB_NEXT_FRAME when it stopped at max (more may follow), else what
 * followed the last frame. A stream catching up from a long history takes
 * the lock once per batch, not once per event, so publishers are not kept
 * waiting on it by the delivery loops.
 */
enum hub_next hub_next_many(struct hub *hub, struct hub_sub *sub, struct hub_frame **frames,
                            size_t max, size_t *n);
void hub_unsubscribe(struct hub *hub, struct hub_sub *sub);

void hub_frame_release(struct hub_frame *frame);

struct hub_totals {
    size_t subscribers;
    size_t topics;
    size_t kept;         /* events in the history */
    size_t kept_bytes;   /* their frames' bytes */
    uint64_t published;
    uint64_t lagged;     /* subscribers dropped for falling behind */
    uint64_t behind;     /* publishes refused: delivery behind (HUB_BEHIND) */
    uint64_t backlog;    /* events published but not fanned out, all readers */
    unsigned readers;
    struct hub_reader_info {
        size_t subscribers;
        size_t catching_up;  /* subscribers behind (new, or a full socket) */
        uint64_t backlog;
    } reader[HUB_MAX_READERS];
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

/* Wakes every reader (hub_next answers HUB_NEXT_CLOSED) and refuses publishes. */
void hub_close(struct hub *hub);

/*
 * Is id (n bytes) the id of an event still in the history? /publish refuses
 * a publisher's own id that is: replay looks ids up by string, so a second
 * event with the same id would make a reconnect resume at the wrong place.
 */
int hub_has_id(struct hub *hub, const char *id, size_t n);

#endif
