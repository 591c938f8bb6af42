/*
 * delivery: N epoll loops, one thread each, that write every open stream.
 * After a request thread has checked a GET /events request it opens the
 * stream here with one call: delivery_open() picks the least loaded loop,
 * subscribes to the hub and hands the connection to that loop, or, if any
 * step fails, undoes the others and leaves the caller to answer. From then
 * on a stream costs a socket and a small record, not a thread.
 *
 * Each loop is one of the hub's readers: a publish wakes each loop once, and
 * each loop fans the event out to its own streams, so fan-out runs on every
 * core and no lock is held across it. A stream whose socket is full falls
 * behind and catches up from the hub's history when it drains; heartbeats,
 * hang-ups and the end of streams are each loop's own business.
 */
#ifndef SSE_DELIVERY_H
#define SSE_DELIVERY_H

#include <stddef.h>

#include "hub.h"
#include "stats.h"

struct delivery;

/* The most loops; --threads is capped here. */
#define DELIVERY_MAX_LOOPS HUB_MAX_READERS

/*
 * Starts `loops` loops as the hub's readers 0..loops-1 (the hub must have
 * been made with limits.readers == loops). NULL on failure, nothing left.
 */
struct delivery *delivery_start(struct hub *hub, struct stats *stats, unsigned heartbeat_s,
                                unsigned loops);

/*
 * Ends every stream (each gets a last comment and a proper end of request;
 * the hub must be closed first so that they all learn it), waiting at most
 * grace_ms for slow ones, then stops the loops and frees everything.
 */
void delivery_stop(struct delivery *d, int grace_ms);

struct delivery_request {
    const struct sse_str *topics;
    size_t ntopics;
    const char *last_event_id;  /* resume after it; NULL: new events only */
    int fd;                     /* the FastCGI connection, nothing written on it yet */
    int request_id;             /* its FastCGI request id */
    const char *head;           /* the response head and first frame: sent first */
    size_t head_len;
    unsigned long no;           /* the request's number, for log lines */
};

/*
 * Opens a stream. HUB_OK: a loop owns fd now (the caller frees its request
 * without closing or writing to it); the loop sends the head, then events.
 * Anything else: nothing was kept, fd is as it was, and the status says why
 * (the hub's refusals, or HUB_UNAVAILABLE when a system call failed).
 */
enum hub_status delivery_open(struct delivery *d, const struct delivery_request *req);

/* Streams the loops hold open now, all together (for tests and stats). */
size_t delivery_open_streams(struct delivery *d);

#endif
