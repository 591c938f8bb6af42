/*
 * delivery: one epoll loop that writes every open stream. After the accept
 * thread has checked a GET /events request, subscribed it to the hub and
 * written the response head with libfcgi, it hands the connection over here
 * and goes back to accepting. From then on the stream costs a socket and a small record, not a
 * thread: the loop sleeps in epoll_wait, the hub's wake callback queues the
 * streams that have news, and the loop copies their frames out of the hub
 * and writes them as FastCGI records, never blocking on a slow client.
 *
 * The hub does not know this module exists: it only calls delivery_wake().
 */
#ifndef SSE_DELIVERY_H
#define SSE_DELIVERY_H

#include "hub.h"
#include "stats.h"

struct delivery;
struct delivery_stream;

struct delivery *delivery_start(struct hub *hub, struct stats *stats, unsigned heartbeat_s);

/*
 * Ends every stream (each gets a last comment and a proper end of request;
 * the hub must be closed first so that they all learn it), waiting at most
 * grace_ms for slow ones, then stops the loop and frees it.
 */
void delivery_stop(struct delivery *d, int grace_ms);

/* A stream record to pass as the hub's wake context before adoption. */
struct delivery_stream *delivery_stream_new(struct delivery *d, unsigned long no);

/* The hub_wake_fn: queues the stream for the loop (ignored until adopted). */
void delivery_wake(void *stream);

/*
 * Hands the stream over: fd is the FastCGI connection (with the response
 * head already written and flushed), request_id its FastCGI request id, sub
 * its subscription. From here the loop owns fd, sub and the stream record.
 */
void delivery_adopt(struct delivery_stream *s, int fd, int request_id, struct hub_sub *sub);

/* Frees a stream record that was never adopted (its subscription gone). */
void delivery_stream_free(struct delivery_stream *s);

/* Streams the loop holds open now (for tests and stats). */
size_t delivery_open(struct delivery *d);

#endif
