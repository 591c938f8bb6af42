/*
 * server: accepts FastCGI connections and answers their requests. One
 * accept thread only accepts (it never reads from a peer, so a silent or
 * slow one cannot hold it up) and queues each connection for a fixed pool
 * of request threads, which read the request with libfcgi and answer it, or
 * hand a stream to the delivery loop. Requests in flight are bounded by the
 * pool, and each by a deadline.
 */
#ifndef SSE_SERVER_H
#define SSE_SERVER_H

#include "app.h"

struct server;

struct server_limits {
    unsigned max_requests;  /* request threads: requests read or answered at once */
    unsigned timeout_s;     /* each read and write, and a whole request */
};

/* Makes listen_fd non-blocking. Returns NULL after logging why. */
struct server *server_new(int listen_fd, const struct app *app, const struct server_limits *lim);

/*
 * Starts the request threads and accepts requests until server_stop(); then
 * waits for the requests in flight, cuts off those still running after a
 * grace period, and joins every thread. Returns how many were cut off, or
 * -1 if the request threads could not be started.
 */
int server_run(struct server *srv);

/* Stops accepting. Thread-safe, and safe from the stop thread. */
void server_stop(struct server *srv);

/* Frees a server whose server_run() has returned (or never ran). */
void server_free(struct server *srv);

#endif
