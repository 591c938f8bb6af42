/*
 * server: accepts FastCGI requests and gives each its own thread, as in
 * libfcgi's examples/threaded.c but with one thread per request rather than
 * a fixed pool: an SSE request lives for hours, so a pool would cap the
 * number of clients at the pool size.
 */
#ifndef SSE_SERVER_H
#define SSE_SERVER_H

#include "app.h"

struct server;

struct server *server_new(int listen_fd, const struct app *app);

/*
 * Accepts requests until server_stop(), then waits for the open streams to
 * end. Returns the number of streams still open after the grace period (0 on
 * a clean stop).
 */
unsigned server_run(struct server *srv);

/* Stops accepting and closes the hub, which ends every stream. Thread-safe. */
void server_stop(struct server *srv);

void server_free(struct server *srv);

#endif
